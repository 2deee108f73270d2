"""``capture_errors``: record an exception escaping a block or function, then re-raise it."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .provider import MetricsProvider

F = TypeVar("F", bound=Callable[..., Any])


class capture_errors:
    """Context manager (sync or async) and decorator (sync or async functions).

    Exceptions that are instances of ``exceptions`` (default ``Exception``, so
    ``KeyboardInterrupt``, ``SystemExit`` and task cancellation pass untouched)
    are recorded with :meth:`MetricsProvider.record_error_message` and re-raised.
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
            self._provider.record_error_message(exc)

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
