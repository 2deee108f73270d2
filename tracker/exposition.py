"""Serving a provider: `/metrics` (text or OpenMetrics) and `/errors` (JSON) as WSGI, ASGI or a server."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _wsgiref_make_server

from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from .provider import MetricsProvider

METRICS_PATH = "/metrics"
ERRORS_PATH = "/errors"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
JSON_TOP_ERRORS = 50
"""How many of the most frequent error types the JSON view lists."""

Response = tuple[str, list[tuple[str, str]], bytes]


def errors_json(provider: MetricsProvider) -> bytes:
    """The JSON view: buffer, statistics and top errors (``{"enabled": false}`` when disabled)."""
    stats = provider.get_error_stats(top_limit=JSON_TOP_ERRORS)
    body = {"enabled": False} if stats is None else {"enabled": True, **stats.to_dict()}
    return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def respond(provider: MetricsProvider, method: str, path: str, headers: dict[str, str]) -> Response:
    """Answer one request for the provider's routes; ``headers`` keys are lower-case."""
    if path not in (METRICS_PATH, ERRORS_PATH):
        return _plain("404 Not Found", f"not found; try {METRICS_PATH} or {ERRORS_PATH}\n")
    if method not in ("GET", "HEAD"):
        status, response_headers, body = _plain("405 Method Not Allowed", "use GET\n")
        return status, [*response_headers, ("Allow", "GET, HEAD")], body
    if path == ERRORS_PATH:
        body, content_type = errors_json(provider), JSON_CONTENT_TYPE
    else:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        body = encoder(provider.registry)
    response_headers = [("Content-Type", content_type), ("Cache-Control", "no-store")]
    if "gzip" in headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=1)
        response_headers.append(("Content-Encoding", "gzip"))
    response_headers.append(("Content-Length", str(len(body))))
    return "200 OK", response_headers, b"" if method == "HEAD" else body


def _plain(status: str, text: str) -> Response:
    body = text.encode("utf-8")
    return status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(provider: MetricsProvider) -> WSGIApp:
    """A WSGI app serving ``/metrics`` and ``/errors``, to mount in Flask, Django or any WSGI server."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {
            "accept": environ.get("HTTP_ACCEPT", ""),
            "accept-encoding": environ.get("HTTP_ACCEPT_ENCODING", ""),
        }
        status, response_headers, body = respond(
            provider, environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO") or "/", headers
        )
        start_response(status, response_headers)
        return [body]

    return app


def make_asgi_app(provider: MetricsProvider) -> Callable[..., Any]:
    """An ASGI app serving ``/metrics`` and ``/errors``, to mount in Starlette, FastAPI or any ASGI server."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        status, response_headers, body = respond(provider, scope.get("method", "GET"), scope["path"], headers)
        await send({
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers],
        })
        await send({"type": "http.response.body", "body": body})

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


def make_server(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """A threading WSGI server for ``app``; loopback only unless ``host`` says otherwise."""
    server_class = _ThreadingWSGIServer6 if ":" in host else _ThreadingWSGIServer
    return _wsgiref_make_server(host, port, app, server_class, handler_class=_QuietHandler)


class MetricsServer:
    """A background ``/metrics`` server for a provider; use as a context manager or call ``close()``."""

    def __init__(self, provider: MetricsProvider, port: int = 0, addr: str = "127.0.0.1") -> None:
        self._server = make_server(make_wsgi_app(provider), addr, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="velo-tracker-metrics", daemon=True
        )
        self._thread.start()

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


def start_http_server(provider: MetricsProvider, port: int = 0, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve ``provider`` on ``addr:port`` (port 0 picks a free one) in a daemon thread."""
    return MetricsServer(provider, port, addr)
