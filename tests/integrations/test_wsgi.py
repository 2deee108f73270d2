"""The WSGI middleware: exceptions from the call, the iteration and close(), under a real WSGI client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from werkzeug.test import Client

from tests.integrations.support import FailingProvider
from tracker import MetricsProvider, TrackerConfig
from tracker.integrations.wsgi import ErrorTrackingMiddleware

RAW = TrackerConfig(fingerprinting=False)


class Body:
    def __init__(self, fail_at: int | None = None, fail_close: bool = False) -> None:
        self.fail_at, self.fail_close, self.closed = fail_at, fail_close, False

    def __iter__(self) -> Iterator[bytes]:
        for i in range(3):
            if i == self.fail_at:
                raise ConnectionResetError("stream broke")
            yield b"chunk"

    def close(self) -> None:
        self.closed = True
        if self.fail_close:
            raise OSError("close failed")


def make_app(body: Body | None = None):
    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/boom":
            raise KeyError("user_id")
        start_response("404 Not Found" if path == "/missing" else "200 OK", [("Content-Type", "text/plain")])
        return body if body is not None else [b"ok"]

    return app


def test_exception_from_the_call_is_recorded_and_reraised() -> None:
    provider = MetricsProvider(RAW)
    client = Client(ErrorTrackingMiddleware(make_app(), provider))
    for _ in range(2):
        with pytest.raises(KeyError, match="user_id"):
            client.get("/boom")
    assert client.get("/ok").data == b"ok"
    assert client.get("/missing").status_code == 404
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 2)]


def test_exceptions_while_iterating_and_closing() -> None:
    provider = MetricsProvider(RAW)
    body = Body(fail_at=1)
    app = ErrorTrackingMiddleware(make_app(body), provider)
    response = app({"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda status, headers: None)
    chunks = iter(response)
    assert next(chunks) == b"chunk"
    with pytest.raises(ConnectionResetError):
        next(chunks)
    response.close()
    assert body.closed
    body = Body(fail_close=True)
    response = ErrorTrackingMiddleware(make_app(body), provider)(
        {"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda status, headers: None
    )
    assert list(response) == [b"chunk"] * 3
    with pytest.raises(OSError, match="close failed"):
        response.close()
    assert dict(provider.get_top_errors(10)) == {
        "ConnectionResetError: stream broke": 1, "OSError: close failed": 1
    }


def test_a_failing_tracker_changes_nothing() -> None:
    client = Client(ErrorTrackingMiddleware(make_app(), FailingProvider()))
    with pytest.raises(KeyError, match="user_id"):
        client.get("/boom")
    assert client.get("/ok").data == b"ok"


def test_base_exceptions_pass_unrecorded() -> None:
    provider = MetricsProvider(RAW)

    def app(environ, start_response):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ErrorTrackingMiddleware(app, provider)({}, lambda *a: None)
    assert provider.get_total_errors() == 0
