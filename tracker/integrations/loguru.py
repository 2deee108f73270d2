"""loguru: a sink that records the message (and its exception), without loguru's prefix or traceback.

    from loguru import logger
    from tracker.integrations.loguru import sink

    logger.add(sink(provider), level="ERROR")

``logger.error("payment failed for {}", order)`` is recorded as the formatted message
(``payment failed for 7``, grouped by the provider's fingerprinting as usual);
``logger.exception("payment failed")`` inside ``except KeyError`` as
``payment failed: KeyError: 'user_id'``. An exception object already recorded (by a framework
integration, for example) is not counted again. The sink itself also skips records below
``level`` (ERROR by default), in case it is added without one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["sink"]


def sink(provider: MetricsProvider | str, level: int = logging.ERROR) -> Callable[[Any], None]:
    """A loguru sink recording each message at ``level`` or above with ``provider``."""
    ref = ProviderRef(provider)

    def write(message: Any) -> None:
        with guard("the loguru sink"):
            record = message.record
            if record["level"].no < level:
                return
            text = str(record["message"])
            exception = record.get("exception")
            exc = getattr(exception, "value", None) if exception is not None else None
            if isinstance(exc, BaseException):
                record_exception(ref.get(), exc, text.strip() or None)
            else:
                ref.get().record_error_message(text)

    write.__name__ = write.__qualname__ = "velo_tracker_sink"
    return write
