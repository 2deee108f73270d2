"""The demo service: a simulated trading stream processor that uses the library as a user would.

A background thread runs the :mod:`~tracker.demo.scenario` workload through
``MetricsProvider.record_sql_query_with_error``. The WSGI app adds the demo's routes to the
library's own (``/metrics`` and ``/errors`` come from :func:`tracker.exposition.make_wsgi_app`):

========================  ==============================================================
``GET /``                 what the demo serves, as JSON
``GET /healthz``          liveness for health checks
``GET /metrics``          the provider's exposition (the library's route)
``GET /errors``           the JSON view of the buffer, statistics and top errors (the library's)
``GET /alerts``           notifications Alertmanager delivered to the webhook
``POST /storm``           an error storm (``?count=N&types=K``); SIGUSR1 does the same
``POST /reset``           ``reset_error_tracking()``: the error counter starts again from zero
``POST /pause``           pause the simulated workload
``POST /resume``          resume it
``POST /alertmanager/webhook``  Alertmanager's webhook receiver
========================  ==============================================================

Everything is bounded, so it runs for hours: the library's state, the alerts kept (the
latest notification of each alert, at most :data:`MAX_ALERTS`), request bodies and storms.

Cross-site requests are refused: the state-changing routes (every ``POST``) need
``Content-Type: application/json`` (which a browser sends cross-site only after a CORS
preflight this app never approves) and refuse an ``Origin`` other than the app's own. Served on a
loopback address, the server also refuses a ``Host`` that is not a loopback name (DNS
rebinding); ``--allow-host`` adds names.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tracker import MetricsProvider, TrackerConfig
from tracker.config import DEFAULT_BUFFER_CAPACITY
from tracker.exposition import ERRORS_PATH, METRICS_PATH, make_server, make_wsgi_app
from tracker.names import DEFAULT_NAMESPACE

from .scenario import STORM_TYPES, Scenario

log = logging.getLogger("tracker.demo")

WEBHOOK_PATH = "/alertmanager/webhook"
#: Alerts kept for ``GET /alerts`` (the latest notification of each, least recent dropped first).
MAX_ALERTS = 200
#: Largest request body accepted (Alertmanager's notifications are far smaller).
MAX_BODY_BYTES = 1 << 20
#: Largest storm one request or signal may ask for.
MAX_STORM = 100_000

_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class DemoSettings:
    """How the simulated processor behaves."""

    seed: int | None = None
    """Seed of the workload's random source (``None``: different every run)."""
    error_rate: float = 0.1
    """Fraction of queries that fail."""
    queries_per_second: float = 5.0
    """Simulated SQL queries per second."""
    storm_size: int = 1000
    """Errors one storm records by default."""
    storm_types: int = 24
    """Distinct error types one storm spreads over by default (more than the buffer holds)."""
    paused: bool = False
    """Start with the workload paused (``POST /resume`` starts it)."""
    namespace: str = DEFAULT_NAMESPACE
    """Metric-name prefix (as ``velo-tracker generate --namespace``)."""
    buffer_capacity: int = DEFAULT_BUFFER_CAPACITY
    """The rolling buffer's capacity."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1 (got {self.error_rate!r})")
        if not 0.0 < self.queries_per_second <= 10_000:
            raise ValueError(f"queries_per_second must be in (0, 10000] (got {self.queries_per_second!r})")
        if not 0 <= self.storm_size <= MAX_STORM:
            raise ValueError(f"storm_size must be between 0 and {MAX_STORM} (got {self.storm_size!r})")
        if not 1 <= self.storm_types <= STORM_TYPES:
            raise ValueError(f"storm_types must be between 1 and {STORM_TYPES} (got {self.storm_types!r})")


class AlertInbox:
    """The latest state of each alert Alertmanager notified, bounded, thread-safe."""

    def __init__(self, capacity: int = MAX_ALERTS) -> None:
        self._capacity = capacity
        self._alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._notifications = 0
        self._lock = threading.Lock()

    def receive(self, payload: dict[str, Any]) -> int:
        """Store one webhook notification; returns how many alerts it carried."""
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise ValueError("a webhook notification has an 'alerts' list")
        now = time.time()
        kept = []
        for alert in alerts:
            if not isinstance(alert, dict):
                raise ValueError("each alert is an object")
            labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
            key = str(alert.get("fingerprint") or json.dumps(labels, sort_keys=True))
            kept.append((key, {
                "alertname": str(labels.get("alertname", "")),
                "status": str(alert.get("status", payload.get("status", ""))),
                "labels": labels,
                "annotations": alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {},
                "startsAt": alert.get("startsAt"),
                "endsAt": alert.get("endsAt"),
                "receiver": payload.get("receiver"),
                "received_at": now,
            }))
        with self._lock:
            self._notifications += 1
            for key, alert in kept:
                self._alerts.pop(key, None)
                self._alerts[key] = alert
                while len(self._alerts) > self._capacity:
                    self._alerts.popitem(last=False)
        return len(kept)

    def view(self) -> dict[str, Any]:
        with self._lock:
            alerts = list(reversed(self._alerts.values()))
            notifications = self._notifications
        return {
            "notifications_received": notifications,
            "firing": sorted({a["alertname"] for a in alerts if a["status"] == "firing"}),
            "alerts": alerts,
        }


class DemoApp:
    """The demo service: the provider, the simulated workload and the WSGI routes."""

    def __init__(self, settings: DemoSettings | None = None, provider: MetricsProvider | None = None) -> None:
        self.settings = settings or DemoSettings()
        self.provider = provider or MetricsProvider(
            TrackerConfig(namespace=self.settings.namespace, buffer_capacity=self.settings.buffer_capacity)
        )
        seed = self.settings.seed
        self._scenario = Scenario(seed, self.settings.error_rate)
        # Storms come from request threads and signals: their own random source, under a lock.
        self._storm_scenario = Scenario(None if seed is None else seed + 1)
        self._storm_lock = threading.Lock()
        self.inbox = AlertInbox()
        self._library_app = make_wsgi_app(self.provider)
        self._running = threading.Event()
        if not self.settings.paused:
            self._running.set()
        self._stopping = threading.Event()
        self._step_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.queries = 0
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[str, Any]]] = {
            ("GET", "/"): self._index,
            ("GET", "/healthz"): lambda env: ("200 OK", {"status": "ok"}),
            ("GET", "/alerts"): lambda env: ("200 OK", self.inbox.view()),
            ("POST", "/storm"): self._storm_route,
            ("POST", "/reset"): self._reset_route,
            ("POST", "/pause"): self._pause_route,
            ("POST", "/resume"): self._resume_route,
            ("POST", WEBHOOK_PATH): self._webhook_route,
        }

    # -- the workload -------------------------------------------------------------------

    def step(self) -> None:
        """Run one simulated query and record it."""
        op = self._scenario.next_operation()
        self.provider.record_sql_query_with_error(
            op.query_type, op.duration, op.success, op.record_count, op.error_message
        )
        self.queries += 1

    def _work(self) -> None:
        interval = 1.0 / self.settings.queries_per_second
        next_at = time.monotonic()
        while not self._stopping.is_set():
            if not self._running.is_set():
                self._running.wait(0.5)
                next_at = time.monotonic()
                continue
            with self._step_lock:  # pause() waits for a step in flight: once paused, nothing is recorded
                if self._running.is_set():
                    try:
                        self.step()
                    except Exception:  # a demo must keep running
                        log.exception("simulated query failed")
            next_at = max(next_at + interval, time.monotonic() - 1.0)  # no catch-up burst after a stall
            self._stopping.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        """Start the workload thread."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="velo-demo-workload", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workload thread."""
        self._stopping.set()
        self._running.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None

    def pause(self) -> None:
        """Pause the workload; when this returns, no simulated query is recorded until resumed."""
        self._running.clear()
        with self._step_lock:
            pass

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def storm(self, count: int | None = None, types: int | None = None) -> dict[str, int]:
        """Record an error storm: ``count`` errors over ``types`` distinct stream failures."""
        count = self.settings.storm_size if count is None else count
        types = self.settings.storm_types if types is None else types
        if not 0 <= count <= MAX_STORM:
            raise ValueError(f"count must be between 0 and {MAX_STORM}")
        if not 1 <= types <= STORM_TYPES:
            raise ValueError(f"types must be between 1 and {STORM_TYPES}")
        with self._storm_lock:
            messages = self._storm_scenario.storm_messages(count, types)
        for message in messages:
            self.provider.record_error_message(message)
        log.info("error storm: recorded %d errors of %d types", count, min(count, types))
        return {"recorded": count, "types": min(count, types)}

    # -- WSGI -------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        if method == "OPTIONS" and any(p == path for _, p in self._routes):
            # Allow only: no Access-Control-* header, so a browser's CORS preflight fails.
            start_response("200 OK", [("Allow", self._allowed(path)), ("Content-Length", "0")])
            return [b""]
        route = self._routes.get(("GET" if method == "HEAD" else method, path))
        if route is None:
            if any(p == path for _, p in self._routes):
                allowed = self._allowed(path)
                return _reply(start_response, "405 Method Not Allowed", {"error": f"use {allowed}"},
                              [("Allow", allowed)])
            if path in (METRICS_PATH, ERRORS_PATH):
                return self._library_app(environ, start_response)
            return _reply(start_response, "404 Not Found", {"error": f"no route {path}; see GET /"})
        if method == "POST":
            refusal = cross_site_refusal(environ)
            if refusal is not None:
                log.info("refused %s %s: %s", method, path, refusal[1])
                return _reply(start_response, refusal[0], {"error": refusal[1]})
        try:
            status, body = route(environ)
        except ValueError as exc:
            status, body = "400 Bad Request", {"error": str(exc)}
        except _TooLarge:
            status, body = "413 Content Too Large", {"error": f"bodies are limited to {MAX_BODY_BYTES} bytes"}
        return _reply(start_response, status, body, head=method == "HEAD")

    def _allowed(self, path: str) -> str:
        methods = {m for m, p in self._routes if p == path}
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods | {"OPTIONS"}))

    def _index(self, environ: dict[str, Any]) -> tuple[str, Any]:
        return "200 OK", {
            "service": "velo-tracker demo: a simulated trading stream processor",
            "workload": {
                "paused": self.paused,
                "queries": self.queries,
                "queries_per_second": self.settings.queries_per_second,
                "error_rate": self.settings.error_rate,
            },
            "routes": {
                "GET /metrics": "Prometheus exposition",
                "GET /errors": "buffered errors, statistics and top errors (JSON)",
                "GET /alerts": "alerts Alertmanager delivered to the webhook",
                "POST /storm?count=N&types=K": "record an error storm (also: kill -USR1 <pid>)",
                "POST /reset": "reset error tracking (the counter starts again from zero)",
                "POST /pause, POST /resume": "pause or resume the simulated workload",
                f"POST {WEBHOOK_PATH}": "Alertmanager webhook receiver",
            },
        }

    def _storm_route(self, environ: dict[str, Any]) -> tuple[str, Any]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        count = _int_param(query, "count")
        types = _int_param(query, "types")
        return "200 OK", self.storm(count, types)

    def _reset_route(self, environ: dict[str, Any]) -> tuple[str, Any]:
        self.provider.reset_error_tracking()
        log.info("error tracking reset")
        return "200 OK", {"reset": True}

    def _pause_route(self, environ: dict[str, Any]) -> tuple[str, Any]:
        self.pause()
        return "200 OK", {"paused": True}

    def _resume_route(self, environ: dict[str, Any]) -> tuple[str, Any]:
        self.resume()
        return "200 OK", {"paused": False}

    def _webhook_route(self, environ: dict[str, Any]) -> tuple[str, Any]:
        try:
            payload = json.loads(_read_body(environ))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ValueError("a webhook notification is a JSON object")
        received = self.inbox.receive(payload)
        log.info("alertmanager notification: %s, %d alert(s)", payload.get("status"), received)
        return "200 OK", {"received": received}


class _TooLarge(Exception):
    pass


def cross_site_refusal(environ: dict[str, Any]) -> tuple[str, str] | None:
    """Why a state-changing request is refused (status, reason), or ``None`` to accept it.

    It must declare a JSON body (a cross-site form or ``fetch`` with a simple content type
    cannot, without a preflight), and an ``Origin``, when a browser sends one, must be the
    app's own: scheme, host and port of the request.
    """
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not _same_origin(origin, environ):
        return "403 Forbidden", f"cross-origin request refused (Origin {origin[:200]!r})"
    if environ.get("HTTP_SEC_FETCH_SITE", "").lower() == "cross-site":
        return "403 Forbidden", "cross-site request refused (Sec-Fetch-Site)"
    media_type = (environ.get("CONTENT_TYPE") or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return "415 Unsupported Media Type", "state-changing requests need Content-Type: application/json"
    return None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _same_origin(origin: str, environ: dict[str, Any]) -> bool:
    scheme = str(environ.get("wsgi.url_scheme") or "http").lower()
    host = environ.get("HTTP_HOST") or ""
    try:
        theirs = urlsplit(origin.strip())
        ours = urlsplit(f"{scheme}://{host}")
        their_port = theirs.port or _DEFAULT_PORTS.get(theirs.scheme.lower())
        our_port = ours.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a malformed port
        return False
    if not theirs.hostname or not ours.hostname or theirs.path or theirs.query:
        return False
    return (theirs.scheme.lower(), theirs.hostname, their_port) == (scheme, ours.hostname, our_port)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValueError("bad Content-Length") from None
    if length > MAX_BODY_BYTES:
        raise _TooLarge
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values:
        return None
    try:
        return int(values[-1])
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None


def _reply(
    start_response: Callable[..., Any],
    status: str,
    body: Any,
    extra_headers: list[tuple[str, str]] | None = None,
    head: bool = False,
) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    headers = [("Content-Type", _JSON), ("Cache-Control", "no-store"), ("Content-Length", str(len(data)))]
    start_response(status, headers + (extra_headers or []))
    return [b"" if head else data]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[IPv6]:PORT``) as ``(host, port)``; ``ValueError`` when malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8000 (got {text!r})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def serve(settings: DemoSettings, host: str = "127.0.0.1", port: int = 8000,
          allowed_hosts: Iterable[str] = ()) -> int:
    """Run the demo service until SIGTERM or SIGINT; SIGUSR1 triggers an error storm.

    Prints one ``listening on URL`` line (flushed) once the socket is bound. On a loopback
    address, requests whose ``Host`` is neither a loopback name nor in ``allowed_hosts`` get 403.
    """
    app = DemoApp(settings)
    server = make_server(app, host, port, allowed_hosts=allowed_hosts)
    bound_host, bound_port = server.server_address[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    stop = threading.Event()
    storm_requested = threading.Event()

    def on_stop(signum: int, frame: object) -> None:
        stop.set()

    def on_storm(signum: int, frame: object) -> None:
        storm_requested.set()  # the storm itself runs in the main loop, not in the handler

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if hasattr(signal, "SIGUSR1"):
        previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_storm)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="velo-demo-http", daemon=True)
    try:
        app.start()
        thread.start()
        print(f"velo-tracker demo-app: listening on http://{shown_host}:{bound_port}", flush=True)
        print("  GET /metrics, GET /errors, GET /alerts; POST /storm, /reset, /pause, /resume "
              "(SIGUSR1 also triggers a storm); Ctrl-C stops", flush=True)
        while not stop.wait(0.2):
            if storm_requested.is_set():
                storm_requested.clear()
                app.storm()
    finally:
        if thread.is_alive():
            server.shutdown()
            thread.join(5)
        server.server_close()
        app.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("velo-tracker demo-app: stopped", file=sys.stderr, flush=True)
    return 0
