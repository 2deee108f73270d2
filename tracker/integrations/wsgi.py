"""WSGI: record an exception escaping the wrapped application, then re-raise it.

    from tracker.integrations.wsgi import ErrorTrackingMiddleware
    application = ErrorTrackingMiddleware(application, provider)

Frameworks that turn exceptions into a 500 themselves (Flask, Django) never let one escape:
use their own integration instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["ErrorTrackingMiddleware"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ErrorTrackingMiddleware:
    """Wraps a WSGI app: an ``Exception`` raised by the app, while iterating its response or
    closing it is recorded once and re-raised unchanged. ``provider`` may be a dotted path."""

    def __init__(self, app: WSGIApp, provider: MetricsProvider | str) -> None:
        self.app = app
        self._provider = ProviderRef(provider)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            body = self.app(environ, start_response)
        except Exception as exc:
            self._record(exc)
            raise
        return _Response(body, self._record)

    def _record(self, exc: BaseException) -> None:
        with guard("the WSGI middleware"):
            record_exception(self._provider.get(), exc)


class _Response:
    """The app's response iterable, recording what its iteration or ``close()`` raises."""

    def __init__(self, body: Iterable[bytes], record: Callable[[BaseException], None]) -> None:
        self._body = body
        self._record = record

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception as exc:
            self._record(exc)
            raise

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                self._record(exc)
                raise
