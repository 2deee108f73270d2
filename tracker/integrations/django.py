"""Django: a middleware recording the exceptions that become a 500, and the metrics views.

In ``settings.py``::

    VELO_TRACKER_PROVIDER = "myproject.metrics.provider"    # dotted path to a MetricsProvider
    MIDDLEWARE = [..., "tracker.integrations.django.ErrorTrackingMiddleware"]

In ``urls.py``::

    from tracker.integrations.django import errors_view, metrics_view
    urlpatterns = [..., path("metrics", metrics_view), path("metrics/errors", errors_view)]

The middleware records what a view raises (also while rendering a template response) unless
Django answers it with a 4xx (``Http404``, ``PermissionDenied``, ``BadRequest``,
``SuspiciousOperation``, ``MultiPartParserError``: marked, so that an
:class:`~tracker.ErrorTrackingHandler` does not record Django's log line of them either), and,
through Django's ``got_request_exception`` signal, what other middleware raises. It works under WSGI and ASGI.

The views serve the provider's exposition like ``/metrics`` and ``/errors`` of the built-in
server; pass ``{"provider": other}`` as the path's keyword arguments to serve another provider.
Django's own settings (``ALLOWED_HOSTS``, authentication middleware) decide who may read them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, mark_seen, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["SETTING", "ErrorTrackingMiddleware", "errors_view", "get_provider", "metrics_view"]

#: The setting naming the provider: a dotted path (``"myproject.metrics.provider"``) or the object.
SETTING = "VELO_TRACKER_PROVIDER"

_refs: dict[int, tuple[object, ProviderRef]] = {}


def get_provider() -> MetricsProvider:
    """The provider named by ``settings.VELO_TRACKER_PROVIDER`` (imported once per value)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    value = getattr(settings, SETTING, None)
    if value is None:
        raise ImproperlyConfigured(
            f"set {SETTING} to the dotted path of your MetricsProvider, "
            'for example "myproject.metrics.provider"'
        )
    held = _refs.get(id(value))
    if held is None or held[0] is not value:
        try:
            held = (value, ProviderRef(value))
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{SETTING}: {exc}") from exc
        _refs.clear()
        _refs[id(value)] = held
    try:
        return held[1].get()
    except (ImportError, TypeError) as exc:
        raise ImproperlyConfigured(f"{SETTING} = {value!r}: {exc}") from exc


def _is_client_error(exc: BaseException) -> bool:
    """Whether Django answers ``exc`` with a 4xx rather than a 500."""
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
    from django.http import Http404
    from django.http.multipartparser import MultiPartParserError

    return isinstance(exc, (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError))


def _record(exc: BaseException | None) -> None:
    if exc is None or not isinstance(exc, Exception):
        return
    with guard("the Django integration"):
        if _is_client_error(exc):
            mark_seen(get_provider(), exc)  # so Django's own log line of it is not recorded either
        else:
            record_exception(get_provider(), exc)


def _on_request_exception(sender: Any, request: Any = None, **_: Any) -> None:
    # Sent by Django inside its ``except`` block for exceptions that become a 500.
    _record(sys.exc_info()[1])


class ErrorTrackingMiddleware:
    """Records the exceptions that Django turns into a 500; never changes the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction
        from django.core.signals import got_request_exception

        get_provider()  # a missing or wrong setting fails at start-up, with its name
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
        got_request_exception.connect(_on_request_exception, dispatch_uid="velo_tracker.django")

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        return await self.get_response(request)

    def process_exception(self, request: Any, exception: BaseException) -> None:
        _record(exception)
        return None


def metrics_view(request: Any, provider: MetricsProvider | None = None) -> Any:
    """The Prometheus exposition (text, or OpenMetrics when asked; gzip when accepted)."""
    return _serve(request, provider, "metrics")


def errors_view(request: Any, provider: MetricsProvider | None = None) -> Any:
    """The JSON view of the buffered errors, statistics and top errors."""
    return _serve(request, provider, "errors")


def _serve(request: Any, provider: MetricsProvider | None, view: str) -> Any:
    from django.http import HttpResponse

    from ..exposition import headers_from_environ, respond

    if provider is None:
        provider = get_provider()
    status, response_headers, body = respond(
        provider, request.method, request.path_info, headers_from_environ(request.META), view=view
    )
    response = HttpResponse(body, status=int(status.split(" ", 1)[0]))
    for name, value in response_headers:
        response[name] = value
    return response
