"""Counters and a duration histogram for SQL queries, read at scrape time."""

from __future__ import annotations

import os
import threading
import weakref
from bisect import bisect_left
from dataclasses import dataclass

from .names import OTHER_QUERY_TYPE

_MAX_QUERY_TYPE_LENGTH = 64


@dataclass(frozen=True)
class QueryTypeSnapshot:
    """Everything recorded for one ``query_type``."""

    query_type: str
    successes: int
    errors: int
    records: int
    bucket_counts: tuple[int, ...]  # per bucket (not cumulative); the last one is +Inf
    duration_sum: float

    @property
    def count(self) -> int:
        return self.successes + self.errors


class _Series:
    __slots__ = ("bucket_counts", "duration_sum", "errors", "records", "successes")

    def __init__(self, buckets: int) -> None:
        self.successes = 0
        self.errors = 0
        self.records = 0
        self.duration_sum = 0.0
        self.bucket_counts = [0] * (buckets + 1)


class SqlQueryMetrics:
    """Query counts, errors, records and durations per ``query_type``, under one lock.

    At most ``max_query_types`` distinct types get their own series; later ones
    are counted under ``other`` so a caller cannot explode the label set.
    """

    def __init__(self, max_query_types: int, buckets: tuple[float, ...]) -> None:
        self._max_query_types = max_query_types
        self.buckets = buckets
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()
        _LIVE.add(self)

    def observe(self, query_type: str, seconds: float, success: bool, records: int) -> None:
        """Count one query; the arguments are already validated."""
        bucket = bisect_left(self.buckets, seconds)
        with self._lock:
            series = self._series.get(query_type)
            if series is None:
                if len(self._series) >= self._max_query_types and query_type != OTHER_QUERY_TYPE:
                    query_type = OTHER_QUERY_TYPE
                series = self._series.get(query_type)
                if series is None:
                    series = self._series[query_type] = _Series(len(self.buckets))
            if success:
                series.successes += 1
            else:
                series.errors += 1
            series.records += records
            series.duration_sum += seconds
            series.bucket_counts[bucket] += 1

    def snapshot(self) -> list[QueryTypeSnapshot]:
        """All series, copied under one lock acquisition, sorted by query type."""
        with self._lock:
            rows = [
                (name, s.successes, s.errors, s.records, tuple(s.bucket_counts), s.duration_sum)
                for name, s in self._series.items()
            ]
        return [QueryTypeSnapshot(*row) for row in sorted(rows)]

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


#: Characters of a ``query_type`` looked at: it is cut to this first, so a huge one costs no more
#: than a short one (only the first 64 characters, whitespace runs folded, reach the label).
_QUERY_TYPE_SCAN_LIMIT = 1024


def clean_query_type(query_type: str) -> str:
    """A query type fit for a label value: one line, at most 64 characters, never empty.

    A ``str`` subclass becomes a plain ``str`` (none of its methods is called).
    """
    query_type = str.__getitem__(query_type, slice(0, _QUERY_TYPE_SCAN_LIMIT))
    if not query_type.isprintable():
        query_type = "".join(ch if ch.isprintable() else " " for ch in query_type)
    text = " ".join(query_type.split())[:_MAX_QUERY_TYPE_LENGTH]
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be exposed
    return text or "unknown"


_LIVE: weakref.WeakSet[SqlQueryMetrics] = weakref.WeakSet()


def _reinit_locks_after_fork() -> None:
    for metrics in list(_LIVE):
        metrics._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_locks_after_fork)
