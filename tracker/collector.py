"""The ``prometheus_client`` collector: metric families built from one snapshot per scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from . import names as n

if TYPE_CHECKING:
    from .sql import SqlQueryMetrics
    from .tracking import ErrorTracker


class ErrorTrackingCollector:
    """Builds every metric of one provider at scrape time, so values are always current."""

    def __init__(
        self,
        namespace: str,
        tracker: ErrorTracker | None,
        sql: SqlQueryMetrics,
    ) -> None:
        self._names = n.MetricNames(namespace)
        self._tracker = tracker
        self._sql = sql

    def describe(self) -> list[Metric]:
        """The families without samples, so a registry can refuse duplicate names."""
        return list(self._families(empty=True))

    def collect(self) -> Iterator[Metric]:
        return self._families(empty=False)

    def _families(self, empty: bool) -> Iterator[Metric]:
        if self._tracker is not None:
            yield from self._error_families(empty)
        yield from self._sql_families(empty)

    def _error_families(self, empty: bool) -> Iterator[Metric]:
        ns = self._names.namespace
        stats = None if empty else self._tracker.snapshot(include_top=False)

        def scalar(cls: type, metric: n.MetricDef, value: float) -> Metric:
            return cls(metric.name(ns), metric.help, value=None if stats is None else value)

        def per_message(metric: n.MetricDef) -> GaugeMetricFamily:
            return GaugeMetricFamily(metric.name(ns), metric.help, labels=metric.labels)

        occurrences = per_message(n.BUFFERED_ERROR_OCCURRENCES)
        last_seen = per_message(n.BUFFERED_ERROR_LAST_SEEN)
        first_seen = per_message(n.BUFFERED_ERROR_FIRST_SEEN)
        entries = () if stats is None else stats.entries
        for entry in entries:
            occurrences.add_metric((entry.message,), entry.count)
            last_seen.add_metric((entry.message,), entry.last_seen)
            first_seen.add_metric((entry.message,), entry.first_seen)
        yield scalar(CounterMetricFamily, n.ERROR_MESSAGES_TOTAL, stats and stats.total_errors)
        yield scalar(GaugeMetricFamily, n.UNIQUE_ERROR_TYPES, stats and stats.unique_errors)
        yield scalar(GaugeMetricFamily, n.BUFFERED_ERROR_MESSAGES, len(entries))
        yield scalar(GaugeMetricFamily, n.ERROR_BUFFER_CAPACITY, stats and stats.buffer_capacity)
        yield occurrences
        yield last_seen
        yield first_seen
        dropped = CounterMetricFamily(
            n.ERROR_TRACKING_DROPPED_TOTAL.name(ns), n.ERROR_TRACKING_DROPPED_TOTAL.help,
            labels=n.ERROR_TRACKING_DROPPED_TOTAL.labels,
        )
        if stats is not None:
            counts = stats.dropped
            for reason in n.DROP_REASONS:  # every reason, zeros included, so rate() starts at once
                dropped.add_metric((reason,), counts.get(reason, 0))
        yield dropped

    def _sql_families(self, empty: bool) -> Iterator[Metric]:
        ns = self._names.namespace
        queries = CounterMetricFamily(
            n.SQL_QUERIES_TOTAL.name(ns), n.SQL_QUERIES_TOTAL.help, labels=n.SQL_QUERIES_TOTAL.labels
        )
        errors = CounterMetricFamily(
            n.SQL_QUERY_ERRORS_TOTAL.name(ns), n.SQL_QUERY_ERRORS_TOTAL.help,
            labels=n.SQL_QUERY_ERRORS_TOTAL.labels,
        )
        records = CounterMetricFamily(
            n.SQL_RECORDS_PROCESSED_TOTAL.name(ns), n.SQL_RECORDS_PROCESSED_TOTAL.help,
            labels=n.SQL_RECORDS_PROCESSED_TOTAL.labels,
        )
        durations = HistogramMetricFamily(
            n.SQL_QUERY_DURATION.name(ns), n.SQL_QUERY_DURATION.help, labels=n.SQL_QUERY_DURATION.labels
        )
        if not empty:
            bounds = [floatToGoString(b) for b in self._sql.buckets] + ["+Inf"]
            for row in self._sql.snapshot():
                label = (row.query_type,)
                queries.add_metric((row.query_type, n.STATUS_SUCCESS), row.successes)
                queries.add_metric((row.query_type, n.STATUS_ERROR), row.errors)
                errors.add_metric(label, row.errors)
                records.add_metric(label, row.records)
                cumulative, buckets = 0, []
                for bound, count in zip(bounds, row.bucket_counts, strict=True):
                    cumulative += count
                    buckets.append((bound, cumulative))
                durations.add_metric(label, buckets, row.duration_sum)
        yield queries
        yield errors
        yield durations
        yield records
