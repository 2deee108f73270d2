"""ASGI: record an exception escaping the wrapped application (HTTP and websocket), then re-raise it.

    from tracker.integrations.asgi import ErrorTrackingMiddleware
    app.add_middleware(ErrorTrackingMiddleware, provider=provider)   # Starlette, FastAPI
    app = ErrorTrackingMiddleware(app, provider)                      # any ASGI app

In Starlette and FastAPI the middleware sits inside the server-error middleware, so it sees
every exception that becomes a 500 (also with an ``exception_handler`` for ``Exception``),
and none that a handler turned into a response (``HTTPException``, validation errors).
Lifespan and other scope types pass through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["ErrorTrackingMiddleware"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

_TRACKED_SCOPES = ("http", "websocket")


class ErrorTrackingMiddleware:
    """Wraps an ASGI app; ``provider`` is a :class:`~tracker.MetricsProvider` or its dotted path."""

    def __init__(self, app: ASGIApp, provider: MetricsProvider | str) -> None:
        self.app = app
        self._provider = ProviderRef(provider)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") not in _TRACKED_SCOPES:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            with guard("the ASGI middleware"):
                record_exception(self._provider.get(), exc)
            raise
