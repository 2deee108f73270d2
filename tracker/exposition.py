"""Serving a provider: the exposition (text or OpenMetrics) and the JSON view.

One core, :func:`respond`, answers a request given its method, path and headers; the WSGI app,
the ASGI app, the built-in server and the Django views (``tracker.integrations.django``) are thin
adapters around it, as ``prometheus_client``'s own ``exposition.py`` does. Content negotiation
and gzip reuse ``prometheus_client``'s helpers, with two guards of our own: an ``Accept`` header
those helpers cannot parse falls back to the text format, and ``Accept-Encoding`` honours
q-values (``gzip;q=0`` means "no gzip").

Paths: like ``prometheus_client.make_wsgi_app``, the apps ignore the path they are mounted at
and serve the exposition on every path, except a path whose last segment is ``errors``
(``/errors``, ``<mount>/errors``), which serves the JSON view. ``view=`` pins an app to one view
(for example a separate app mounted at ``/debug/errors``).

The built-in server (:func:`start_http_server`, also used by the demo app) is bounded: a listen
backlog of :data:`DEFAULT_BACKLOG`, at most ``max_threads`` worker threads with at most
``max_pending`` accepted connections waiting for one (more are answered ``503`` at once), a
per-connection ``timeout`` (the whole request must arrive within it: slow clients get ``408``),
and client disconnects logged as one debug line. While bound to a loopback address it answers
only requests whose ``Host`` is a loopback name or address (DNS rebinding), plus
``allowed_hosts``.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import logging
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from prometheus_client.exposition import choose_encoder, gzip_accepted

from .names import LOGGER_NAME

if TYPE_CHECKING:
    from .provider import MetricsProvider

_log = logging.getLogger(f"{LOGGER_NAME}.exposition")

METRICS_PATH = "/metrics"
ERRORS_PATH = "/errors"
METRICS_VIEW = "metrics"
ERRORS_VIEW = "errors"
ALLOW = "GET, HEAD, OPTIONS"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
JSON_TOP_ERRORS = 50
"""How many of the most frequent error types the JSON view lists."""

#: Listen backlog of the built-in server: connections the kernel queues before one is accepted.
DEFAULT_BACKLOG = 1024
#: Worker threads of the built-in server (each handles one connection at a time).
DEFAULT_MAX_THREADS = 32
#: Accepted connections waiting for a worker; past this, new connections get ``503`` at once.
DEFAULT_MAX_PENDING = 256
#: Seconds a client has to send its whole request, and the limit of each write to it.
DEFAULT_TIMEOUT = 10.0

Response = tuple[str, list[tuple[str, str]], bytes]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# -- the core ---------------------------------------------------------------------------------


def errors_json(provider: MetricsProvider) -> bytes:
    """The JSON view: buffer, statistics and top errors (``{"enabled": false}`` when disabled)."""
    stats = provider.get_error_stats(top_limit=JSON_TOP_ERRORS)
    body = {"enabled": False} if stats is None else {"enabled": True, **stats.to_dict()}
    return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def view_for_path(path: str) -> str:
    """:data:`ERRORS_VIEW` when the path's last segment is ``errors``, else :data:`METRICS_VIEW`."""
    return ERRORS_VIEW if path.rstrip("/").rpartition("/")[2] == "errors" else METRICS_VIEW


def negotiate(accept: str) -> tuple[Callable[..., bytes], str]:
    """``prometheus_client``'s encoder choice; an ``Accept`` it cannot parse gives the text format."""
    try:
        return choose_encoder(accept)
    except Exception:  # e.g. "application/openmetrics-text; version=abc"
        return choose_encoder("")


def gzip_wanted(accept_encoding: str) -> bool:
    """True when ``gzip`` is an accepted coding with a q-value above zero.

    Tokens, not substrings: ``x-notgzip`` is not gzip, and ``gzip;q=0`` refuses it.
    """
    if not gzip_accepted(accept_encoding):  # prometheus_client's token test first
        return False
    for coding in accept_encoding.split(","):
        name, *params = coding.split(";")
        if name.strip().lower() != "gzip":
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0  # a malformed q-value is not a yes
        if quality > 0:
            return True
    return False


def respond(
    provider: MetricsProvider,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    view: str | None = None,
) -> Response:
    """Answer one request: ``(status, headers, body)``.

    ``headers`` maps lower-case names to values (see :func:`headers_from_environ` and
    :func:`headers_from_scope`). ``view`` (:data:`METRICS_VIEW` or :data:`ERRORS_VIEW`) forces
    the view; by default :func:`view_for_path` picks it from ``path``. ``GET`` and ``HEAD`` are
    served, ``OPTIONS`` is answered with ``Allow``, other methods get ``405``.
    """
    if method == "OPTIONS":
        return "200 OK", [("Allow", ALLOW), ("Content-Length", "0")], b""
    if method not in ("GET", "HEAD"):
        status, response_headers, body = _plain("405 Method Not Allowed", f"use {ALLOW}\n")
        return status, [*response_headers, ("Allow", ALLOW)], body
    if view is None:
        view = view_for_path(path)
    if view == ERRORS_VIEW:
        body, content_type = errors_json(provider), JSON_CONTENT_TYPE
    elif view == METRICS_VIEW:
        encoder, content_type = negotiate(headers.get("accept", ""))
        body = encoder(provider.registry)
    else:
        raise ValueError(f"view must be {METRICS_VIEW!r} or {ERRORS_VIEW!r} (got {view!r})")
    response_headers = [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("Vary", "Accept, Accept-Encoding"),
    ]
    if gzip_wanted(headers.get("accept-encoding", "")):
        body = gzip.compress(body, compresslevel=1)
        response_headers.append(("Content-Encoding", "gzip"))
    response_headers.append(("Content-Length", str(len(body))))
    return "200 OK", response_headers, b"" if method == "HEAD" else body


def _plain(status: str, text: str) -> Response:
    body = text.encode("utf-8")
    return status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body


def headers_from_environ(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers :func:`respond` reads, from a WSGI environ (or Django's ``request.META``)."""
    return {
        "accept": environ.get("HTTP_ACCEPT") or "",
        "accept-encoding": environ.get("HTTP_ACCEPT_ENCODING") or "",
    }


def headers_from_scope(scope: dict[str, Any]) -> dict[str, str]:
    """The request headers of an ASGI scope, lower-case, repeated headers joined with commas."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _check_view(view: str | None) -> None:
    if view not in (None, METRICS_VIEW, ERRORS_VIEW):
        raise ValueError(f"view must be None, {METRICS_VIEW!r} or {ERRORS_VIEW!r} (got {view!r})")


# -- WSGI and ASGI --------------------------------------------------------------------------


def make_wsgi_app(provider: MetricsProvider, view: str | None = None) -> WSGIApp:
    """A WSGI app serving the provider wherever it is mounted.

    Every path serves the exposition except one ending in ``/errors`` (the JSON view);
    ``view="errors"`` or ``view="metrics"`` serves that view on every path.
    """
    _check_view(view)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, response_headers, body = respond(
            provider,
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO") or "/",
            headers_from_environ(environ),
            view=view,
        )
        start_response(status, response_headers)
        return [body]

    return app


def make_asgi_app(provider: MetricsProvider, view: str | None = None) -> Callable[..., Any]:
    """An ASGI app serving the provider wherever it is mounted (paths as :func:`make_wsgi_app`).

    The path is read relative to the scope's ``root_path`` (Starlette's ``Mount``).
    """
    _check_view(view)

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})
            return
        if kind != "http":
            return
        path = scope.get("path") or "/"
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        status, response_headers, body = respond(
            provider, scope.get("method", "GET"), path, headers_from_scope(scope), view=view
        )
        await send({
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers],
        })
        await send({"type": "http.response.body", "body": body})

    return app


# -- Host validation (DNS rebinding) ----------------------------------------------------------


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header, lower-case, without port or trailing dot."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    else:
        name, sep, port = host.rpartition(":")
        if sep and port.isdigit():
            host = name
    return host.rstrip(".")


def is_loopback_host(host_header: str) -> bool:
    """True for ``localhost``, ``*.localhost`` and loopback IP literals (``127.0.0.0/8``, ``::1``)."""
    host = _host_name(host_header)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_address(address: str) -> bool:
    """True when the address a server is bound to is a loopback address."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return address.lower() == "localhost"


class HostGuard:
    """WSGI middleware answering ``403`` to a request whose ``Host`` is not a loopback name.

    For servers bound to a loopback address: a page on another site that rebinds its own
    name to 127.0.0.1 sends its own name as ``Host``. A request without ``Host`` (HTTP/1.0
    tools, not browsers) passes. ``allowed_hosts`` adds names (compared without the port).
    """

    def __init__(self, app: WSGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed_hosts = frozenset(_host_name(h) for h in _as_host_list(allowed_hosts))

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return True
        return is_loopback_host(host_header) or _host_name(host_header) in self.allowed_hosts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.allows(environ.get("HTTP_HOST")):
            return self.app(environ, start_response)
        _log.debug("refused a request for Host %r", environ.get("HTTP_HOST"))
        status, headers, body = _plain(
            "403 Forbidden",
            "this server answers loopback host names only (add others with allowed_hosts)\n",
        )
        start_response(status, headers)
        return [body]


def _as_host_list(hosts: Iterable[str] | str) -> list[str]:
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    result = []
    for host in hosts:
        if not isinstance(host, str):
            raise TypeError(f"allowed_hosts holds host names, not {type(host).__name__}")
        if host.strip():
            result.append(host.strip())
    return result


# -- the built-in server ----------------------------------------------------------------------


class _DeadlineReader:
    """The request stream of one connection: every read must finish before the deadline."""

    def __init__(self, stream: Any, connection: socket.socket, deadline: float, timeout: float) -> None:
        self._stream = stream
        self._connection = connection
        self._deadline = deadline
        self._timeout = timeout

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._connection.settimeout(remaining)
        try:
            return method(*args)
        finally:
            self._connection.settimeout(self._timeout)  # writes get the whole per-operation timeout

    def read(self, size: int = -1) -> bytes:
        return self._call(self._stream.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._call(self._stream.readline, size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._call(self._stream.readlines, hint)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _QuietServerHandler(ServerHandler):
    """wsgiref's handler, with client disconnects logged as one debug line and errors to logging."""

    def run(self, application: WSGIApp) -> None:
        try:
            self.setup_environ()
            self.result = application(self.environ, self.start_response)
            self.finish_response()
        except (ConnectionError, TimeoutError) as exc:
            _log.debug("client went away while being answered: %s", exc.__class__.__name__)
            self._close_result()
        except Exception:
            try:
                self.handle_error()
            except Exception:
                self.close()
                raise

    def _close_result(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                _log.debug("closing the response failed", exc_info=True)

    def log_exception(self, exc_info: Any) -> None:
        environ = getattr(self, "environ", None) or {}
        _log.error("error while serving %s", environ.get("PATH_INFO", "?"), exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    """One connection: the request must arrive before the deadline; disconnects stay quiet."""

    server: _PooledWSGIServer

    def setup(self) -> None:
        self.timeout = self.server.timeout_seconds
        super().setup()
        self.rfile = _DeadlineReader(self.rfile, self.connection,
                                     time.monotonic() + self.timeout, self.timeout)

    def handle(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                return  # connected and closed without a request
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                return
            if not self.parse_request():
                return  # an error response was sent
        except TimeoutError:
            self.server.count("timed_out")
            _log.debug("client %s did not send its request in %gs", self.client_address[0], self.timeout)
            self._send_raw(b"HTTP/1.0 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            return
        except ConnectionError as exc:
            _log.debug("client %s went away while sending its request: %s",
                       self.client_address[0], exc.__class__.__name__)
            return
        if self._client_reset():
            _log.debug("client %s reset its connection before being answered", self.client_address[0])
            return
        handler = _QuietServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self
        handler.run(self.server.get_app())

    def _client_reset(self) -> bool:
        """True when the client has already reset the connection (no need to build the answer)."""
        try:
            self.connection.settimeout(0.0)
            self.connection.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionError:
            return True
        except OSError:
            return False
        finally:
            self.connection.settimeout(self.timeout)
        return False

    def _send_raw(self, data: bytes) -> None:
        try:
            self.connection.settimeout(1.0)
            self.connection.sendall(data)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _PooledWSGIServer(WSGIServer):
    """A WSGI server whose connections are handled by a bounded pool of worker threads."""

    request_queue_size = DEFAULT_BACKLOG
    allow_reuse_address = True

    def __init__(
        self,
        server_address: tuple[str, int],
        *,
        max_threads: int = DEFAULT_MAX_THREADS,
        max_pending: int = DEFAULT_MAX_PENDING,
        timeout: float = DEFAULT_TIMEOUT,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        if ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        self.request_queue_size = backlog
        self.max_threads = max_threads
        self.max_pending = max_pending
        self.timeout_seconds = timeout
        self.counters = {"handled": 0, "refused": 0, "timed_out": 0}
        self._queue: queue.SimpleQueue[tuple[socket.socket, Any] | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = 0
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closing = False
        super().__init__(server_address, _RequestHandler)

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    @property
    def threads(self) -> int:
        """Worker threads started so far (never more than ``max_threads``)."""
        return len(self._workers)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._closing or self._pending >= self.max_pending:
                self.counters["refused"] += 1
                refuse = True
            else:
                self._pending += 1
                refuse = False
                if self._idle < self._pending and len(self._workers) < self.max_threads:
                    worker = threading.Thread(target=self._work, daemon=True,
                                              name=f"velo-tracker-http-{len(self._workers) + 1}")
                    self._workers.append(worker)
                    worker.start()
        if refuse:
            self._refuse(request)
        else:
            self._queue.put((request, client_address))

    def _refuse(self, request: socket.socket) -> None:
        """Answer ``503`` at once, without a thread: every worker is busy and the queue is full."""
        _log.debug("refused a connection: %d workers busy, %d waiting", self.max_threads, self.max_pending)
        try:
            request.setblocking(False)
            with contextlib.suppress(OSError):
                request.recv(65536)  # what already arrived, so closing does not reset the connection
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
                            b"Content-Type: text/plain\r\nContent-Length: 12\r\n\r\nserver busy\n")
        except OSError:
            pass
        self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is not None:
                    self._pending -= 1
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
                self.count("handled")
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            _log.debug("connection from %s ended early: %s", client_address, exc.__class__.__name__)
        else:
            _log.error("error while serving %s", client_address, exc_info=True)

    def server_close(self) -> None:
        with self._lock:
            self._closing = True
            workers = list(self._workers)
        super().server_close()
        for _ in workers:
            self._queue.put(None)
        while True:  # connections still waiting are closed, not served
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            self.shutdown_request(item[0])


def make_server(
    app: WSGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    allowed_hosts: Iterable[str] = (),
    max_threads: int = DEFAULT_MAX_THREADS,
    max_pending: int = DEFAULT_MAX_PENDING,
    timeout: float = DEFAULT_TIMEOUT,
    backlog: int = DEFAULT_BACKLOG,
) -> _PooledWSGIServer:
    """The bounded WSGI server for ``app`` (then call ``serve_forever()``); loopback unless told otherwise.

    Bound to a loopback address, it refuses a ``Host`` that is not a loopback name or in
    ``allowed_hosts``; bound elsewhere, ``Host`` is not checked (scrapers use IPs and service names).
    """
    _require_positive("max_threads", max_threads)
    _require_positive("max_pending", max_pending)
    _require_positive("backlog", backlog)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds (got {timeout!r})")
    hosts = _as_host_list(allowed_hosts)
    server = _PooledWSGIServer((host, port), max_threads=max_threads, max_pending=max_pending,
                               timeout=float(timeout), backlog=backlog)
    if is_loopback_address(server.server_address[0]):
        app = HostGuard(app, hosts)
    server.set_app(app)
    return server


def _require_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 (got {value!r})")


class MetricsServer:
    """A background server for a provider; use as a context manager or call ``close()``."""

    def __init__(self, provider: MetricsProvider, port: int = 0, addr: str = "127.0.0.1",
                 **options: Any) -> None:
        self._server = make_server(make_wsgi_app(provider), addr, port, **options)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="velo-tracker-metrics", daemon=True
        )
        self._thread.start()

    @property
    def server(self) -> _PooledWSGIServer:
        return self._server

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_http_server(
    provider: MetricsProvider,
    port: int = 0,
    addr: str = "127.0.0.1",
    *,
    allowed_hosts: Iterable[str] = (),
    max_threads: int = DEFAULT_MAX_THREADS,
    max_pending: int = DEFAULT_MAX_PENDING,
    timeout: float = DEFAULT_TIMEOUT,
    backlog: int = DEFAULT_BACKLOG,
) -> MetricsServer:
    """Serve ``provider`` on ``addr:port`` (port 0 picks a free one) in a daemon thread.

    ``/metrics`` (any path) serves the exposition and ``/errors`` the JSON view. See
    :func:`make_server` for ``allowed_hosts`` and the bounds.
    """
    return MetricsServer(provider, port, addr, allowed_hosts=allowed_hosts, max_threads=max_threads,
                         max_pending=max_pending, timeout=timeout, backlog=backlog)
