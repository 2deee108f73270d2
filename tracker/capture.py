"""Recording exceptions at the edge: ``capture_errors``, the recorded-once mark, and the guard.

Every integration (the logging handler, ``capture_errors``, the framework middlewares and
signal receivers) records an exception through :func:`record_exception`, which marks the
exception object so that the same object is recorded once per provider however many of them
see it (a Flask signal and the root logging handler, a Celery signal and Celery's own log
line, a middleware and a ``logger.exception`` in the view).

Everything the tracker does at the edge runs under :func:`guard`: a failure of the tracker
itself is logged once on the library's logger and never reaches, or changes, the caller.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import inspect
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .names import LOGGER_NAME

if TYPE_CHECKING:
    from .provider import MetricsProvider

__all__ = [
    "ProviderRef",
    "capture_errors",
    "guard",
    "is_recorded",
    "mark_seen",
    "record_exception",
    "resolve_provider",
]

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger(LOGGER_NAME)

#: The attribute that marks an exception object: a weak set of the providers that recorded it.
MARK_ATTRIBUTE = "__velo_tracker_recorded__"
#: Exceptions that refuse a new attribute (``__slots__``, some C types) are remembered here
#: instead, with a strong reference so that their ``id`` cannot be reused while listed.
_UNMARKABLE_LIMIT = 256
_unmarkable: OrderedDict[int, tuple[BaseException, weakref.WeakSet[Any]]] = OrderedDict()
_unmarkable_lock = threading.Lock()


def _marks(exc: BaseException, create: bool) -> weakref.WeakSet[Any] | None:
    marks = getattr(exc, MARK_ATTRIBUTE, None)
    if isinstance(marks, weakref.WeakSet):
        return marks
    with _unmarkable_lock:
        held = _unmarkable.get(id(exc))
        if held is not None and held[0] is exc:
            return held[1]
    if not create:
        return None
    marks = weakref.WeakSet()
    try:
        setattr(exc, MARK_ATTRIBUTE, marks)
    except Exception:
        with _unmarkable_lock:
            _unmarkable[id(exc)] = (exc, marks)
            while len(_unmarkable) > _UNMARKABLE_LIMIT:
                _unmarkable.popitem(last=False)
    return marks


def is_recorded(exc: BaseException, provider: MetricsProvider) -> bool:
    """Whether ``provider`` has already recorded this very exception object."""
    marks = _marks(exc, create=False)
    return marks is not None and provider in marks


def mark_seen(provider: MetricsProvider, exc: BaseException) -> None:
    """Mark ``exc`` as dealt with for ``provider`` without recording it.

    An integration that knows an exception is not an error (Django's ``Http404`` and other
    4xx answers) marks it, so a logging handler that sees it later does not record it either.
    """
    marks = _marks(exc, create=True)
    if marks is not None:
        marks.add(provider)


def record_exception(provider: MetricsProvider, exc: BaseException, context: str | None = None) -> bool:
    """Record ``exc`` as ``TypeName: message`` unless ``provider`` already recorded this object.

    ``context`` (a task name, an event name, a logger name...) is put in front of the text
    when given: ``"context: TypeName: message"``. An exception group holding a single
    exception (as anyio task groups raise) is recorded as that exception. Returns whether it
    was recorded now.
    """
    while _is_group(exc) and len(exc.exceptions) == 1:  # type: ignore[attr-defined]
        mark_seen(provider, exc)
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    marks = _marks(exc, create=True)
    if marks is not None:
        if provider in marks:
            return False
        marks.add(provider)
    if context:
        from .text import to_text

        provider.record_error_message(f"{context}: {to_text(exc)}")
    else:
        provider.record_error_message(exc)
    return True


def resolve_provider(value: object) -> MetricsProvider:
    """A provider given as itself or as a dotted path: ``"pkg.mod.name"`` or ``"pkg.mod:name"``.

    Raises ``ImportError`` when the module or the attribute is missing and ``TypeError`` when
    the object found is not a provider, naming the path in both cases.
    """
    if not isinstance(value, str):
        if not callable(getattr(value, "record_error_message", None)):
            raise TypeError(f"expected a MetricsProvider or its dotted path, got {type(value).__name__}")
        return value  # type: ignore[return-value]
    module_name, attribute = _split_path(value)
    module = importlib.import_module(module_name)
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ImportError(f"{value!r}: module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(getattr(found, "record_error_message", None)):
        raise TypeError(f"{value!r} is a {type(found).__name__}, not a MetricsProvider")
    return found  # type: ignore[return-value]


def _split_path(path: str) -> tuple[str, str]:
    if ":" in path:
        module_name, _, attribute = path.partition(":")
    else:
        module_name, _, attribute = path.rpartition(".")
    identifiers = [*module_name.split("."), *attribute.split(".")]
    if not module_name or not attribute or not all(part.isidentifier() for part in identifiers):
        raise ValueError(
            f"a provider path is 'package.module.name' or 'package.module:name', not {path!r}"
        )
    return module_name, attribute


class ProviderRef:
    """A provider, or a dotted path to one that is imported the first time it is needed.

    Lets a handler or middleware be configured before the module holding the provider can be
    imported (``dictConfig`` in a settings module). The path's syntax is checked at once.
    """

    def __init__(self, value: object) -> None:
        if isinstance(value, str):
            _split_path(value)
            self._path: str | None = value
            self._provider: MetricsProvider | None = None
        else:
            self._path = None
            self._provider = resolve_provider(value)

    def get(self) -> MetricsProvider:
        provider = self._provider
        if provider is None:
            provider = self._provider = resolve_provider(self._path)
        return provider


_EXCEPTION_GROUP: type[BaseException] | None = getattr(builtins, "BaseExceptionGroup", None)


def _is_group(exc: BaseException) -> bool:
    return _EXCEPTION_GROUP is not None and isinstance(exc, _EXCEPTION_GROUP)


_warned: set[str] = set()


@contextlib.contextmanager
def guard(where: str) -> Iterator[None]:
    """Run the tracker's own work at the edge: any ``Exception`` it raises is swallowed.

    The first failure at each ``where`` is logged (with its traceback) as a warning on the
    library's logger, which :class:`~tracker.ErrorTrackingHandler` never records; later ones
    at the same place are dropped quietly. The caller's own exception, if any, is untouched.
    """
    try:
        yield
    except Exception:
        if where not in _warned:
            _warned.add(where)
            with contextlib.suppress(Exception):
                _log.warning("velo-tracker failed in %s; the error was not recorded", where, exc_info=True)


class capture_errors:
    """Context manager (sync or async) and decorator (sync or async functions).

    Exceptions that are instances of ``exceptions`` (default ``Exception``, so
    ``KeyboardInterrupt``, ``SystemExit`` and task cancellation pass untouched)
    are recorded as ``TypeName: message`` and re-raised. An exception object that the
    provider already recorded (through another ``capture_errors``, an integration or the
    logging handler) is not counted again.
    """

    def __init__(
        self,
        provider: MetricsProvider,
        exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    ) -> None:
        self._provider = provider
        self._exceptions = exceptions

    def _record(self, exc: BaseException | None) -> None:
        if exc is not None and isinstance(exc, self._exceptions):
            with guard("capture_errors"):
                record_exception(self._provider, exc)

    def __enter__(self) -> capture_errors:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._record(exc)
        return False

    async def __aenter__(self) -> capture_errors:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._record(exc)
        return False

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except BaseException as exc:
                    self._record(exc)
                    raise

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                self._record(exc)
                raise

        return wrapper  # type: ignore[return-value]
