"""ASGI: the middleware under Starlette and FastAPI, through httpx and a real uvicorn server."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from tests.integrations.support import FailingProvider, reference, uvicorn_server
from tracker import ErrorTrackingHandler, MetricsProvider, TrackerConfig, make_asgi_app
from tracker.integrations.asgi import ErrorTrackingMiddleware

RAW = TrackerConfig(fingerprinting=False)
URLS = ("/users/1", "/users/2", "/missing", "/handled", "/teapot", "/ok", "/nope", "/items/abc")


def make_fastapi(provider: MetricsProvider | None, handler_for_exception: bool = False) -> FastAPI:
    app = FastAPI()
    if provider is not None:
        app.add_middleware(ErrorTrackingMiddleware, provider=provider)
        app.mount("/metrics", make_asgi_app(provider))

    @app.get("/users/{user_id}")
    async def user(user_id: str) -> dict[str, str]:
        return {"name": {}["user_id"]}

    @app.get("/sync/{user_id}")
    def sync_user(user_id: str) -> dict[str, str]:
        raise ValueError(f"bad user {user_id}")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418)

    @app.get("/handled")
    async def handled() -> str:
        try:
            {}["nothing"]
        except KeyError:
            return "fine"

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> int:  # "abc" is a 422 validation error
        return item_id

    @app.get("/ok")
    async def ok() -> str:
        return "ok"

    if handler_for_exception:

        @app.exception_handler(Exception)
        async def on_error(request: Request, exc: Exception) -> PlainTextResponse:
            return PlainTextResponse(f"sorry: {type(exc).__name__}", status_code=500)

    return app


def client_for(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def fetch_all(app: object, urls: tuple[str, ...] = URLS) -> list[tuple[int, bytes, str | None]]:
    async with client_for(app) as client:
        results = []
        for url in urls:
            response = await client.get(url)
            results.append((response.status_code, response.content, response.headers.get("content-type")))
        return results


def test_fastapi_records_500s_once_and_nothing_else() -> None:
    provider = MetricsProvider(RAW)
    handler = ErrorTrackingHandler(provider)
    logging.getLogger().addHandler(handler)  # a root handler too: still once
    try:
        results = asyncio.run(fetch_all(make_fastapi(provider)))
    finally:
        logging.getLogger().removeHandler(handler)
    assert [status for status, _, _ in results] == [500, 500, 404, 200, 418, 200, 404, 422]
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 2)]


def test_fastapi_sync_endpoint_and_exception_handler_for_exception() -> None:
    provider = MetricsProvider(RAW)
    app = make_fastapi(provider, handler_for_exception=True)
    results = asyncio.run(fetch_all(app, ("/sync/7", "/users/1", "/missing")))
    assert results[0][:2] == (500, b"sorry: ValueError") and results[1][:2] == (500, b"sorry: KeyError")
    assert results[2][0] == 404
    assert dict(provider.get_top_errors(10)) == {"ValueError: bad user 7": 1, "KeyError: 'user_id'": 1}


@pytest.mark.parametrize("provider_factory", [lambda: MetricsProvider(RAW), FailingProvider])
@pytest.mark.parametrize("handler_for_exception", [False, True])
def test_fastapi_responses_exactly_as_without_the_middleware(provider_factory, handler_for_exception) -> None:
    plain = asyncio.run(fetch_all(make_fastapi(None, handler_for_exception)))
    tracked = asyncio.run(fetch_all(make_fastapi(provider_factory(), handler_for_exception)))
    assert tracked == plain


def test_the_same_exception_propagates_to_the_server() -> None:
    for provider in (MetricsProvider(RAW), FailingProvider()):
        with TestClient(make_fastapi(provider)) as client, pytest.raises(KeyError, match="user_id"):
            client.get("/users/1")


def test_default_pipeline_groups_one_exception_across_urls() -> None:
    provider = MetricsProvider()
    asyncio.run(fetch_all(make_fastapi(provider), ("/users/1", "/users/zzz", "/sync/7", "/sync/8")))
    assert provider.get_top_errors(10) == reference(
        "KeyError: 'user_id'", "KeyError: 'user_id'", "ValueError: bad user 7", "ValueError: bad user 8"
    )
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 2), ("ValueError: bad user <num>", 2)]


def test_metrics_mounted_in_fastapi() -> None:
    provider = MetricsProvider(RAW)
    app = make_fastapi(provider)

    async def scrape() -> tuple[httpx.Response, httpx.Response]:
        async with client_for(app) as client:
            await client.get("/users/1")
            metrics = await client.get("/metrics", follow_redirects=True)
            errors = await client.get("/metrics/errors")
            return metrics, errors

    metrics, errors = asyncio.run(scrape())
    assert metrics.status_code == 200 and "velo_error_messages_total 1.0" in metrics.text
    assert errors.status_code == 200 and errors.json()["total_errors"] == 1


def make_starlette(provider: MetricsProvider) -> Starlette:
    async def boom(request: Request) -> PlainTextResponse:
        raise ZeroDivisionError("division by zero")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        if text == "fail":
            raise ConnectionAbortedError("websocket handler failed")
        await websocket.send_text(text)
        await websocket.close()

    return Starlette(
        routes=[
            Route("/boom", boom),
            WebSocketRoute("/ws", echo),
            Mount("/metrics", app=make_asgi_app(provider)),
        ],
        middleware=[Middleware(ErrorTrackingMiddleware, provider=provider)],
    )


def test_starlette_http_websocket_and_lifespan() -> None:
    provider = MetricsProvider(RAW)
    with TestClient(make_starlette(provider), raise_server_exceptions=False) as client:  # runs lifespan
        assert client.get("/boom").status_code == 500
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"
        with pytest.raises(Exception), client.websocket_connect("/ws") as ws:  # noqa: B017
            ws.send_text("fail")
            ws.receive_text()
        assert client.get("/metrics/").status_code == 200
    assert dict(provider.get_top_errors(10)) == {
        "ZeroDivisionError: division by zero": 1,
        "ConnectionAbortedError: websocket handler failed": 1,
    }


def test_lifespan_passes_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                raise RuntimeError("a lifespan failure is not a request error")

    provider = MetricsProvider(RAW)
    wrapped = ErrorTrackingMiddleware(app, provider)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError):
        asyncio.run(wrapped({"type": "lifespan"}, receive, send))
    assert seen == ["lifespan.startup", "lifespan.shutdown"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert provider.get_total_errors() == 0


def test_real_uvicorn_server() -> None:
    provider = MetricsProvider(RAW)
    uvicorn_log = logging.getLogger("uvicorn.error")
    handler = ErrorTrackingHandler(provider)  # uvicorn's own logger, which does not propagate
    uvicorn_log.addHandler(handler)
    try:
        # A new connection per request: uvicorn closes one after an exception escaped the app.
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with uvicorn_server(make_fastapi(provider)) as base, httpx.Client(
            base_url=base, timeout=10, limits=no_keepalive
        ) as client:
            urls = ("/users/1", "/users/2", "/sync/3", "/missing")
            statuses = [client.get(url).status_code for url in urls]
            metrics = client.get("/metrics", follow_redirects=True)
            errors = client.get("/metrics/errors")
    finally:
        uvicorn_log.removeHandler(handler)
    assert statuses == [500, 500, 500, 404]
    assert dict(provider.get_top_errors(10)) == {"KeyError: 'user_id'": 2, "ValueError: bad user 3": 1}
    assert metrics.status_code == 200 and "velo_error_messages_total 3.0" in metrics.text
    assert errors.json()["total_errors"] == 3


def test_real_uvicorn_server_with_a_failing_tracker() -> None:
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with uvicorn_server(make_fastapi(FailingProvider())) as base, httpx.Client(
        base_url=base, timeout=10, limits=no_keepalive
    ) as c:
        response = c.get("/users/1")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        assert c.get("/ok").json() == "ok"
