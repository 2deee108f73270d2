"""ErrorTracker under load: many threads lose and double count nothing; memory stays bounded."""

from __future__ import annotations

import gc
import sys
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator

import pytest

from tracker.stats import ErrorStats
from tracker.tracking import ErrorTracker

THREADS = 8
PER_THREAD = 20_000
COMMON_KEYS = [f"common error {i}" for i in range(40)]


def thread_keys(thread: int) -> list[str]:
    """A mix of keys shared by every thread and keys only this thread records."""
    return [
        f"thread {thread} rare {i}" if i % 500 == 0 else COMMON_KEYS[(i * 7 + thread) % len(COMMON_KEYS)]
        for i in range(PER_THREAD)
    ]


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Switch threads often, so recording threads interleave as much as possible."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_threads(tracker: ErrorTracker, readers: int = 0) -> tuple[Counter[str], list[ErrorStats]]:
    work = [thread_keys(t) for t in range(THREADS)]
    expected = Counter(key for keys in work for key in keys)
    start = threading.Barrier(THREADS + readers)
    writers_done = threading.Event()
    seen: list[ErrorStats] = []

    def write(keys: list[str]) -> None:
        start.wait()
        for key in keys:
            tracker.record(key)

    def read() -> None:
        start.wait()
        while not writers_done.is_set():
            seen.append(tracker.snapshot())

    writers = [threading.Thread(target=write, args=(keys,)) for keys in work]
    reader_threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in writers + reader_threads:
        thread.start()
    for thread in writers:
        thread.join()
    writers_done.set()
    for thread in reader_threads:
        thread.join()
    return expected, seen


@pytest.mark.usefixtures("frequent_switches")
def test_many_threads_lose_and_double_count_nothing() -> None:
    tracker = ErrorTracker(capacity=1_000, top_errors_capacity=1_000)
    expected, snapshots = run_threads(tracker, readers=1)
    stats = tracker.snapshot()

    assert stats.total_errors == THREADS * PER_THREAD
    assert stats.unique_errors == len(expected)
    # Nothing was evicted, so each buffered count and each top count is the true count.
    assert {e.message: e.count for e in stats.entries} == expected
    assert stats.top_errors_exact
    assert dict(stats.get_top_errors(len(expected))) == expected
    assert sum(t.count for t in stats.top_errors) == stats.total_errors

    # Every snapshot taken while writing is internally consistent and totals never go back.
    assert snapshots
    totals = [s.total_errors for s in snapshots]
    assert totals == sorted(totals)
    for snapshot in snapshots:
        assert sum(t.count for t in snapshot.top_errors) == snapshot.total_errors
        assert sum(e.count for e in snapshot.entries) == snapshot.total_errors
        assert snapshot.unique_errors == len(snapshot.entries)


@pytest.mark.usefixtures("frequent_switches")
def test_many_threads_with_a_small_buffer_keep_it_consistent() -> None:
    tracker = ErrorTracker(capacity=10, top_errors_capacity=1_000)
    expected, _ = run_threads(tracker)
    stats = tracker.snapshot()

    assert stats.total_errors == THREADS * PER_THREAD
    assert stats.unique_errors == len(expected)
    assert dict(stats.get_top_errors(len(expected))) == expected
    assert len(stats.entries) == 10
    assert len({e.message for e in stats.entries}) == 10
    for entry in stats.entries:
        # A buffered entry counts occurrences since it last entered the buffer.
        assert 1 <= entry.count <= expected[entry.message]
        assert entry.first_seen <= entry.last_seen
    last_seen = [e.last_seen for e in stats.entries]
    assert last_seen == sorted(last_seen, reverse=True)


def test_a_million_distinct_keys_keep_memory_bounded() -> None:
    count, capacity, top_capacity = 1_000_000, 10, 1_000
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        tracker = ErrorTracker(capacity=capacity, top_errors_capacity=top_capacity)
        record = tracker.record
        for i in range(count):
            record(f"distinct error number {i} in a message of ordinary length")
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert after - before < 10 * 1024 * 1024
    assert peak - before < 10 * 1024 * 1024
    stats = tracker.snapshot()
    assert stats.total_errors == count
    assert len(stats.entries) == capacity
    assert stats.entries[0].message == f"distinct error number {count - 1} in a message of ordinary length"
    assert len(stats.top_errors) == top_capacity
    assert not stats.top_errors_exact
    assert stats.unique_errors_estimated
    assert abs(stats.unique_errors - count) <= 4 * stats.unique_errors_standard_error * count
