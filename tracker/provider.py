"""``MetricsProvider``: the spec's API for recording errors and SQL queries."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import weakref
from datetime import timedelta
from numbers import Real
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from .buffer import ErrorEntry
from .collector import ErrorTrackingCollector
from .config import TrackerConfig
from .multiprocess import make_state
from .names import DROP_BEFORE_RECORD, DROP_INTERNAL, LOGGER_NAME
from .normalize import MessageNormalizer
from .sql import SqlQueryMetrics, clean_query_type
from .stats import ErrorStats
from .text import to_text
from .tracking import ErrorTracker

_log = logging.getLogger(LOGGER_NAME)


class MetricsProvider:
    """Records error messages and SQL queries; exposes them to Prometheus at scrape time.

    ``registry`` is where the provider's collector is registered: a new private
    :class:`~prometheus_client.CollectorRegistry` by default, or pass
    ``prometheus_client.REGISTRY`` to add the metrics to an existing ``/metrics``.
    ``replace=True`` first closes the provider already registered there under the same
    namespace (app factories, tests); otherwise a second one raises ``ValueError``.
    ``close()`` (or leaving a ``with`` block) unregisters the provider's collector.
    """

    def __init__(
        self,
        config: TrackerConfig | None = None,
        registry: CollectorRegistry | None = None,
        replace: bool = False,
    ) -> None:
        if config is None:
            config = TrackerConfig()
        elif not isinstance(config, TrackerConfig):
            raise TypeError(f"config must be a TrackerConfig, not {type(config).__name__}")
        self.config = config
        self._normalizer = MessageNormalizer(config)
        # In-process state, or per-process memory-mapped files merged at read time: chosen once.
        tracker, sql = make_state(config)
        self._tracker: ErrorTracker | None = tracker
        self._sql: SqlQueryMetrics = sql
        self.collector = ErrorTrackingCollector(config.namespace, self._tracker, self._sql)
        self.registry = registry if registry is not None else CollectorRegistry()
        self._internal_error_logged = False
        _register(self, replace)

    # -- recording -------------------------------------------------------

    def record_error_message(self, message: str | bytes | BaseException) -> None:
        """Record one error: a ``str``, ``bytes`` (decoded with replacement) or an exception.

        Any other type raises ``TypeError``; nothing else makes it raise.
        """
        text = message if type(message) is str else to_text(message)
        if self._tracker is None:
            return
        try:
            key = self._normalizer.normalize(text)
            if key is not None:
                self._tracker.record(key)
            else:
                self._tracker.count_dropped(DROP_BEFORE_RECORD)
        except Exception:  # the tracker must never break its caller
            self._log_internal_error()

    def record_sql_query_with_error(
        self,
        query_type: str,
        duration: timedelta | float,
        success: bool,
        record_count: int,
        error_message: str | bytes | BaseException | None = None,
    ) -> None:
        """Count a SQL query; when it failed and ``error_message`` is given, record that error too.

        ``duration`` is a ``timedelta`` or seconds. A successful query's ``error_message`` is ignored.
        """
        if not isinstance(query_type, str):
            raise TypeError(f"query_type must be a str, not {type(query_type).__name__}")
        seconds = _duration_seconds(duration)
        if not isinstance(success, bool):
            raise TypeError(f"success must be a bool, not {type(success).__name__}")
        if isinstance(record_count, bool) or not isinstance(record_count, int):
            raise TypeError(f"record_count must be an int, not {type(record_count).__name__}")
        if record_count < 0:
            raise ValueError(f"record_count must be >= 0 (got {record_count})")
        self._sql.observe(clean_query_type(query_type), seconds, success, record_count)
        if not success and error_message is not None:
            self.record_error_message(error_message)

    def sync_error_metrics(self) -> None:
        """Kept for the spec's callers; metrics are computed at scrape time, so this does nothing."""

    def reset_error_tracking(self) -> None:
        """Clear the buffer, the totals and the statistics (SQL query metrics are kept)."""
        if self._tracker is not None:
            self._tracker.reset()

    # -- reading -----------------------------------------------------------

    def get_error_stats(self, top_limit: int | None = None) -> ErrorStats | None:
        """One consistent snapshot of everything, or ``None`` when error tracking is disabled.

        ``top_limit`` keeps only that many top errors (default: every monitored type).
        """
        return None if self._tracker is None else self._tracker.snapshot(top_limit=top_limit)

    def get_top_errors(self, limit: int = 10) -> list[tuple[str, int]]:
        """The ``limit`` most frequent error types since start or reset, as ``(message, count)``."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0 (got {limit})")
        if self._tracker is None:
            return []
        return self._tracker.snapshot(top_limit=limit).get_top_errors(limit)

    def get_error_messages(self) -> list[ErrorEntry]:
        """The buffered errors, most recently seen first."""
        return list(self._light_snapshot().entries) if self._tracker else []

    def get_total_errors(self) -> int:
        """Errors recorded since start or reset."""
        return self._light_snapshot().total_errors if self._tracker else 0

    def get_unique_error_types(self) -> int:
        """Distinct error types since start or reset (an estimate past the exact cap)."""
        return self._light_snapshot().unique_errors if self._tracker else 0

    def get_buffered_error_count(self) -> int:
        """Entries in the rolling buffer."""
        return len(self._light_snapshot().entries) if self._tracker else 0

    def get_metrics_text(self, openmetrics: bool = False) -> str:
        """This provider's whole exposition, in the Prometheus text format or OpenMetrics."""
        encode = generate_openmetrics if openmetrics else generate_latest
        return encode(self.collector).decode("utf-8")

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Unregister the provider's collector from its registry (again: no effect).

        Recording still works afterwards; nothing is exposed any more.
        """
        with _registered_lock:
            if self._closed:
                return
            self._closed = True
            by_namespace = _registered.get(self.registry)
            if by_namespace is not None and by_namespace.get(self.config.namespace) is self.collector:
                by_namespace.pop(self.config.namespace, None)
        with contextlib.suppress(KeyError):
            self.registry.unregister(self.collector)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def __enter__(self) -> MetricsProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------

    def _light_snapshot(self) -> ErrorStats:
        return self._tracker.snapshot(include_top=False)

    def _log_internal_error(self) -> None:
        """The one guard for our own failures: log the first, count every one."""
        if not self._internal_error_logged:
            self._internal_error_logged = True
            _log.warning("velo-tracker failed to record an error message; it was dropped", exc_info=True)
        with contextlib.suppress(Exception):  # counting is best effort, never raising
            self._tracker.count_dropped(DROP_INTERNAL)  # type: ignore[union-attr]


# The collector each provider registered, per registry and namespace, for ``replace=True`` and
# clear errors. Weak both ways: providers with private registries must stay collectable, and a
# collector stays listed exactly as long as a registry holds it.
_registered: weakref.WeakKeyDictionary[CollectorRegistry, weakref.WeakValueDictionary[str, Any]] = (
    weakref.WeakKeyDictionary()
)
_owners: weakref.WeakKeyDictionary[Any, weakref.ref[MetricsProvider]] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def _register(provider: MetricsProvider, replace: bool) -> None:
    registry, namespace = provider.registry, provider.config.namespace
    provider._closed = False
    with _registered_lock:
        previous = _registered.get(registry, {}).get(namespace)
    if previous is not None:
        if not replace:
            raise ValueError(
                f"a MetricsProvider with namespace {namespace!r} is already registered in this "
                "registry: close() it first (or use the provider as a context manager), pass "
                "replace=True to close it for you, or give this one another namespace or registry"
            )
        owner = _owners.get(previous)
        owner = owner() if owner is not None else None
        if owner is not None:
            owner.close()
        else:  # its provider is gone, its collector still registered
            with contextlib.suppress(KeyError):
                registry.unregister(previous)
    try:
        registry.register(provider.collector)
    except ValueError as exc:  # prometheus_client's "Duplicated timeseries in CollectorRegistry"
        raise ValueError(
            f"cannot register the {namespace!r} metrics of this MetricsProvider: another collector "
            f"in the registry already exposes some of their names ({exc}); use another namespace "
            "or registry, or unregister that collector"
        ) from exc
    with _registered_lock:
        _registered.setdefault(registry, weakref.WeakValueDictionary())[namespace] = provider.collector
        _owners[provider.collector] = weakref.ref(provider)


def _duration_seconds(duration: object) -> float:
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, Real) and not isinstance(duration, bool):
        seconds = float(duration)
    else:
        raise TypeError(f"duration must be a timedelta or seconds, not {type(duration).__name__}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"duration must be a finite, non-negative time (got {duration!r})")
    return seconds
