"""The one definition of every metric and label name the library exposes.

The collector, the dashboard generator, the alert rules and the lint all read
names from here, so a name is typed exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_NAMESPACE = "velo"

#: The library's own logger (and the parent of any it creates). The logging handler ignores
#: exactly this logger and its children, so a user's ``tracker.*`` loggers are still recorded.
LOGGER_NAME = "velo_tracker"

LABEL_MESSAGE = "message"
LABEL_QUERY_TYPE = "query_type"
LABEL_STATUS = "status"
LABEL_REASON = "reason"

STATUS_SUCCESS = "success"
STATUS_ERROR = "error"
OTHER_QUERY_TYPE = "other"

# Values of the ``reason`` label of ERROR_TRACKING_DROPPED_TOTAL.
DROP_REENTRANT = "reentrant"
"""Recorded by a thread already inside the tracker (signal handler, finalizer, recording hook)."""
DROP_BEFORE_RECORD = "before_record"
"""Dropped on purpose by the user's ``before_record`` hook (it returned ``None``)."""
DROP_INTERNAL = "internal"
"""Lost to a failure inside the tracker itself (logged once)."""
DROP_REASONS: tuple[str, ...] = (DROP_REENTRANT, DROP_BEFORE_RECORD, DROP_INTERNAL)

_NAMESPACE_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class MetricDef:
    """A metric the library exposes, before a namespace is applied."""

    key: str
    suffix: str
    kind: str  # "counter", "gauge" or "histogram"
    help: str
    labels: tuple[str, ...] = ()

    def name(self, namespace: str = DEFAULT_NAMESPACE) -> str:
        """The exposed name (for counters, with the ``_total`` suffix)."""
        return f"{namespace}_{self.suffix}"

    def series(self, namespace: str = DEFAULT_NAMESPACE) -> tuple[str, ...]:
        """Every sample name this metric produces in the text format."""
        name = self.name(namespace)
        if self.kind == "histogram":
            return (f"{name}_bucket", f"{name}_sum", f"{name}_count")
        return (name,)


ERROR_MESSAGES_TOTAL = MetricDef(
    "error_messages_total",
    "error_messages_total",
    "counter",
    "Error messages recorded since the process started or tracking was reset.",
)
UNIQUE_ERROR_TYPES = MetricDef(
    "unique_error_types",
    "unique_error_types",
    "gauge",
    "Distinct error types seen since start or reset (exact up to a cap, then a HyperLogLog estimate).",
)
BUFFERED_ERROR_MESSAGES = MetricDef(
    "buffered_error_messages",
    "buffered_error_messages",
    "gauge",
    "Distinct recent error messages held in the rolling buffer.",
)
ERROR_BUFFER_CAPACITY = MetricDef(
    "error_buffer_capacity",
    "error_buffer_capacity",
    "gauge",
    "Capacity of the rolling error buffer.",
)
BUFFERED_ERROR_OCCURRENCES = MetricDef(
    "buffered_error_occurrences",
    "buffered_error_occurrences",
    "gauge",
    "Occurrences of each error message currently in the rolling buffer.",
    (LABEL_MESSAGE,),
)
BUFFERED_ERROR_LAST_SEEN = MetricDef(
    "buffered_error_last_seen",
    "buffered_error_last_seen_timestamp_seconds",
    "gauge",
    "Unix time each buffered error message was last seen.",
    (LABEL_MESSAGE,),
)
BUFFERED_ERROR_FIRST_SEEN = MetricDef(
    "buffered_error_first_seen",
    "buffered_error_first_seen_timestamp_seconds",
    "gauge",
    "Unix time each buffered error message was first seen (since it entered the buffer).",
    (LABEL_MESSAGE,),
)
ERROR_TRACKING_DROPPED_TOTAL = MetricDef(
    "error_tracking_dropped_total",
    "error_tracking_dropped_total",
    "counter",
    "Error messages the tracker did not record, by reason (re-entrant call, hook, internal failure).",
    (LABEL_REASON,),
)
SQL_QUERIES_TOTAL = MetricDef(
    "sql_queries_total",
    "sql_queries_total",
    "counter",
    "SQL queries executed, by query type and outcome.",
    (LABEL_QUERY_TYPE, LABEL_STATUS),
)
SQL_QUERY_ERRORS_TOTAL = MetricDef(
    "sql_query_errors_total",
    "sql_query_errors_total",
    "counter",
    "SQL queries that failed, by query type.",
    (LABEL_QUERY_TYPE,),
)
SQL_QUERY_DURATION = MetricDef(
    "sql_query_duration",
    "sql_query_duration_seconds",
    "histogram",
    "SQL query duration in seconds, by query type.",
    (LABEL_QUERY_TYPE,),
)
SQL_RECORDS_PROCESSED_TOTAL = MetricDef(
    "sql_records_processed_total",
    "sql_records_processed_total",
    "counter",
    "Records processed by SQL queries, by query type.",
    (LABEL_QUERY_TYPE,),
)

ALL_METRICS: tuple[MetricDef, ...] = (
    ERROR_MESSAGES_TOTAL,
    UNIQUE_ERROR_TYPES,
    BUFFERED_ERROR_MESSAGES,
    ERROR_BUFFER_CAPACITY,
    BUFFERED_ERROR_OCCURRENCES,
    BUFFERED_ERROR_LAST_SEEN,
    BUFFERED_ERROR_FIRST_SEEN,
    ERROR_TRACKING_DROPPED_TOTAL,
    SQL_QUERIES_TOTAL,
    SQL_QUERY_ERRORS_TOTAL,
    SQL_QUERY_DURATION,
    SQL_RECORDS_PROCESSED_TOTAL,
)


def validate_namespace(namespace: str) -> str:
    """Return ``namespace`` if it is a valid metric-name prefix, else raise ``ValueError``."""
    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
        raise ValueError(
            f"namespace must match [a-zA-Z_][a-zA-Z0-9_]* (got {namespace!r})"
        )
    return namespace


class MetricNames:
    """Resolved metric names for one namespace: ``MetricNames("velo").error_messages_total``."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = validate_namespace(namespace)
        for metric in ALL_METRICS:
            setattr(self, metric.key, metric.name(namespace))

    # Declared for type checkers and readers; set in __init__.
    error_messages_total: str
    unique_error_types: str
    buffered_error_messages: str
    error_buffer_capacity: str
    buffered_error_occurrences: str
    buffered_error_last_seen: str
    buffered_error_first_seen: str
    error_tracking_dropped_total: str
    sql_queries_total: str
    sql_query_errors_total: str
    sql_query_duration: str
    sql_records_processed_total: str

    def kind_of(self, series_name: str) -> str | None:
        """The metric type behind an exposed sample name, or ``None`` if it is not ours."""
        for metric in ALL_METRICS:
            if series_name in metric.series(self.namespace):
                # A histogram's _bucket, _sum and _count series only ever grow, like counters.
                return "counter" if metric.kind == "histogram" else metric.kind
        return None

    def all_series(self) -> frozenset[str]:
        """Every sample name the library can expose under this namespace."""
        return frozenset(s for m in ALL_METRICS for s in m.series(self.namespace))
