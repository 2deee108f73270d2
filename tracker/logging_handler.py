"""``ErrorTrackingHandler``: a ``logging`` handler that records ERROR-and-above records."""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from .capture import ProviderRef, record_exception
from .names import LOGGER_NAME

if TYPE_CHECKING:
    from .provider import MetricsProvider

__all__ = ["ErrorTrackingHandler", "only_placeholders"]

# One printf-style conversion of the ``%`` operator: ``%s``, ``%(name)s``, ``%-10.3f``, ``%%``.
_CONVERSION = re.compile(r"%(?:\([^)]{0,200}\))?[#0 +-]{0,8}(?:\*|[0-9]{1,9})?(?:\.(?:\*|[0-9]{1,9}))?"
                         r"[hlL]?[diouxXeEfFgGcrsa%]")


def only_placeholders(template: str) -> bool:
    """Whether ``template`` has no words of its own: ``"%s"``, ``"%s: %s"``, ``"[%(exc)s]"``."""
    rest = _CONVERSION.sub("", template)
    return not any(ch.isalnum() for ch in rest)


class ErrorTrackingHandler(logging.Handler):
    """Records each log record at ``level`` (ERROR by default) or above as an error message.

    What is recorded for a record:

    - with an exception (``exc_info``, or an exception logged as the message itself): the
      exception, as ``TypeName: message``; an exception object the provider already recorded
      (through a framework integration, ``capture_errors`` or another handler) is not counted
      again;
    - with arguments: the unformatted template (``record.msg``), so
      ``log.error("user %s failed", uid)`` is one error type whatever ``uid`` is, except when
      the template is only placeholders (``"%s"``, ``"%s: %s"``): then the formatted message,
      which the provider's fingerprinting groups as usual;
    - a structlog event dictionary (structlog routed through ``logging``): its event name;
    - otherwise the message.

    ``include_logger_name=True`` puts the logger's name in front (``"payments: ..."``), so
    that the same text from two loggers is two error types.

    ``provider`` is a :class:`~tracker.MetricsProvider` or the dotted path of one
    (``"myapp.metrics.provider"`` or ``"myapp.metrics:provider"``), imported at the first
    record, so the handler can be configured by class path from ``logging.config.dictConfig``.

    The handler ignores the library's own ``velo_tracker`` logger and its children (only
    those), never re-enters itself, and reports its own failures through ``handleError``.
    """

    def __init__(
        self,
        provider: MetricsProvider | str,
        level: int | str = logging.ERROR,
        *,
        include_logger_name: bool = False,
    ) -> None:
        super().__init__(level)
        self._provider_ref = ProviderRef(provider)
        self.include_logger_name = include_logger_name
        self._local = threading.local()

    @property
    def provider(self) -> MetricsProvider:
        """The provider records go to (imported now if it was given as a dotted path)."""
        return self._provider_ref.get()

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        if name == LOGGER_NAME or (name.startswith(LOGGER_NAME) and name[len(LOGGER_NAME)] == "."):
            return
        if getattr(self._local, "active", False):
            return
        self._local.active = True
        try:
            provider = self.provider
            context = name if self.include_logger_name else None
            exc = _exception_of(record)
            if exc is not None:
                record_exception(provider, exc, context)
            else:
                text = self.message_of(record)
                provider.record_error_message(f"{context}: {text}" if context else text)
        except RecursionError:  # as logging.Handler does: let the caller see it
            raise
        except Exception:
            self.handleError(record)
        finally:
            self._local.active = False

    @staticmethod
    def message_of(record: logging.LogRecord) -> str:
        """The text recorded for ``record`` (before the provider scrubs and groups it)."""
        exc = _exception_of(record)
        if exc is not None:
            from .text import to_text

            return to_text(exc)
        msg = record.msg
        if isinstance(msg, dict) and "event" in msg and not record.args:  # a structlog event
            return str(msg["event"])
        if record.args and isinstance(msg, str) and not only_placeholders(msg):
            return msg
        try:
            return record.getMessage()
        except (TypeError, ValueError, KeyError):  # arguments that do not fit the template
            if not isinstance(msg, str):
                raise
            return msg if not only_placeholders(msg) else f"{msg} {_args_text(record.args)}"


def _exception_of(record: logging.LogRecord) -> BaseException | None:
    exc_info = record.exc_info
    if isinstance(exc_info, tuple) and len(exc_info) >= 2 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if isinstance(record.msg, BaseException) and not record.args:
        return record.msg
    return None


def _args_text(args: Any) -> str:
    if isinstance(args, tuple):
        return " ".join(str(a) for a in args)
    return str(args)
