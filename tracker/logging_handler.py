"""``ErrorTrackingHandler``: a ``logging`` handler that records ERROR-and-above records."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .provider import MetricsProvider

_OWN_LOGGER = "tracker"


class ErrorTrackingHandler(logging.Handler):
    """Records each log record at ``level`` (ERROR by default) or above as an error message.

    A record with arguments is grouped on its unformatted template (``record.msg``),
    so ``log.error("user %s failed", uid)`` is one error type whatever ``uid`` is.
    An attached exception adds its type name. The handler ignores the library's
    own ``tracker`` logger, never re-enters itself and never raises.
    """

    def __init__(self, provider: MetricsProvider, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self._provider = provider
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        if name == _OWN_LOGGER or name.startswith(_OWN_LOGGER + "."):
            return
        if getattr(self._local, "active", False):
            return
        self._local.active = True
        try:
            self._provider.record_error_message(self.message_of(record))
        except Exception:  # a logging handler must never break the code that logs
            pass
        finally:
            self._local.active = False

    @staticmethod
    def message_of(record: logging.LogRecord) -> str:
        """The text recorded for ``record``: its template when it has arguments, else its message."""
        text = str(record.msg) if record.args else record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            text = f"{text} [{type(exc).__name__}]"
        return text
