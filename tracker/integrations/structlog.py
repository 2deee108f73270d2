"""structlog: a processor that records events at error level and above, and passes them on unchanged.

    import structlog
    from tracker.integrations.structlog import ErrorTrackingProcessor

    structlog.configure(processors=[ErrorTrackingProcessor(provider), *structlog.get_config()["processors"]])

An event is grouped on its name plus its exception, never on its key/values:
``log.error("payment_failed", order_id=7)`` is recorded as ``payment_failed``, and
``log.exception("payment_failed")`` inside ``except KeyError`` as
``payment_failed: KeyError: 'user_id'``. An exception object already recorded (by a
framework integration, for example) is not counted again. Put the processor before
``format_exc_info``/``dict_tracebacks`` (first is simplest): those replace ``exc_info`` with text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["ErrorTrackingProcessor"]

# structlog's method names (and level names) with their ``logging`` level.
_LEVELS = {
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "exception": logging.ERROR,
    "error": logging.ERROR,
    "err": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "msg": logging.INFO,
    "debug": logging.DEBUG,
    "notset": logging.NOTSET,
}


class ErrorTrackingProcessor:
    """Records events at ``level`` (``logging.ERROR`` by default) or above; returns the event as is."""

    def __init__(self, provider: MetricsProvider | str, level: int = logging.ERROR) -> None:
        self._provider = ProviderRef(provider)
        self.level = level

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        with guard("the structlog processor"):
            if _level_of(method_name, event_dict) >= self.level:
                self._record(event_dict)
        return event_dict

    def _record(self, event_dict: MutableMapping[str, Any]) -> None:
        provider = self._provider.get()
        event = event_dict.get("event")
        name = "" if event is None else (event if isinstance(event, str) else str(event))
        exc = _exception_of(event_dict.get("exc_info"))
        if exc is not None:
            record_exception(provider, exc, name or None)
            return
        rendered = event_dict.get("exception")
        if isinstance(rendered, str) and rendered.strip():  # already rendered by format_exc_info
            last_line = rendered.strip().splitlines()[-1]
            provider.record_error_message(f"{name}: {last_line}" if name else last_line)
        else:
            provider.record_error_message(name)


def _level_of(method_name: str, event_dict: MutableMapping[str, Any]) -> int:
    level = _LEVELS.get(method_name)
    if level is None:  # log(level, ...) on some loggers; or a custom method name
        named = event_dict.get("level")
        level = _LEVELS.get(named.lower(), logging.NOTSET) if isinstance(named, str) else logging.NOTSET
    return level


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) >= 2 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


