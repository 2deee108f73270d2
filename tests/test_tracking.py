"""ErrorTracker and ErrorStats: totals, uniques, top errors, snapshots, reset and fork safety."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import threading
import time

import pytest

from tracker.buffer import ErrorEntry
from tracker.stats import ErrorStats, TopError
from tracker.tracking import ErrorTracker


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record_all(tracker: ErrorTracker, clock: FakeClock, keys: list[str]) -> None:
    for key in keys:
        clock.now += 1.0
        tracker.record(key)


def test_empty_snapshot() -> None:
    stats = ErrorTracker().snapshot()
    assert stats == ErrorStats(0, 0, False, 0.0, 10, (), (), True)
    assert stats.buffered_count == 0
    assert stats.get_top_errors() == []


def test_snapshot_reports_totals_buffer_and_top() -> None:
    clock = FakeClock(100.0)
    tracker = ErrorTracker(capacity=2, clock=clock)
    record_all(tracker, clock, ["a", "b", "a", "c", "a"])
    stats = tracker.snapshot()
    assert stats.total_errors == 5
    assert stats.unique_errors == 3
    assert stats.unique_errors_estimated is False
    assert stats.buffer_capacity == 2
    assert stats.entries == (ErrorEntry("a", 3, 101.0, 105.0), ErrorEntry("c", 1, 104.0, 104.0))
    assert stats.buffered_count == 2
    # "b" left the buffer but still counts as a type and among the top errors.
    assert stats.top_errors == (TopError("a", 3, 0), TopError("b", 1, 0), TopError("c", 1, 0))
    assert stats.top_errors_exact is True
    assert stats.get_top_errors(2) == [("a", 3), ("b", 1)]


def test_unique_types_include_evicted_ones_and_returning_ones_are_not_recounted() -> None:
    tracker = ErrorTracker(capacity=1)
    for key in ["a", "b", "a", "b", "c"]:
        tracker.record(key)
    stats = tracker.snapshot()
    assert stats.unique_errors == 3
    assert stats.entries[0].message == "c"
    assert stats.entries[0].count == 1


def test_include_top_false_skips_only_the_top_errors() -> None:
    tracker = ErrorTracker()
    for key in ["x", "y", "x"]:
        tracker.record(key)
    light, full = tracker.snapshot(include_top=False), tracker.snapshot()
    assert light.top_errors == ()
    assert full.top_errors != ()
    assert dataclasses.replace(full, top_errors=()) == light


def test_top_limit_keeps_the_largest() -> None:
    tracker = ErrorTracker()
    for key in ["x", "y", "x", "z", "z", "z"]:
        tracker.record(key)
    assert tracker.snapshot(top_limit=2).top_errors == (TopError("z", 3, 0), TopError("x", 2, 0))
    with pytest.raises(ValueError):
        tracker.snapshot(top_limit=-1)


def test_top_errors_report_their_overestimation_bound() -> None:
    tracker = ErrorTracker(capacity=10, top_errors_capacity=2)
    for key in ["a", "a", "a", "b", "c"]:
        tracker.record(key)
    stats = tracker.snapshot()
    assert stats.top_errors_exact is False
    assert stats.top_errors == (TopError("a", 3, 0), TopError("c", 2, 1))


def test_unique_counter_switches_to_an_estimate_past_the_exact_limit() -> None:
    tracker = ErrorTracker(exact_unique_limit=100)
    for i in range(100):
        tracker.record(f"type {i}")
    assert tracker.snapshot().unique_errors_estimated is False
    assert tracker.snapshot().unique_errors == 100
    for i in range(100, 3_000):
        tracker.record(f"type {i}")
    stats = tracker.snapshot()
    assert stats.unique_errors_estimated is True
    assert stats.unique_errors_standard_error == pytest.approx(1.04 / 128)
    assert abs(stats.unique_errors - 3_000) <= 5 * stats.unique_errors_standard_error * 3_000


def test_repeats_of_a_buffered_key_do_not_inflate_the_unique_count() -> None:
    tracker = ErrorTracker(capacity=3, exact_unique_limit=0)  # estimating from the start
    for _ in range(1_000):
        tracker.record("same")
    assert tracker.snapshot().unique_errors == 1


def test_reset_forgets_everything_and_counting_restarts() -> None:
    clock = FakeClock(10.0)
    tracker = ErrorTracker(capacity=3, exact_unique_limit=2, top_errors_capacity=2, clock=clock)
    record_all(tracker, clock, ["a", "b", "c", "a"])
    assert tracker.snapshot().unique_errors_estimated
    tracker.reset()
    assert tracker.snapshot() == ErrorStats(0, 0, False, 0.0, 3, (), (), True)
    record_all(tracker, clock, ["a"])
    stats = tracker.snapshot()
    assert stats.total_errors == 1
    assert stats.unique_errors == 1
    assert stats.entries == (ErrorEntry("a", 1, 15.0, 15.0),)
    assert stats.top_errors == (TopError("a", 1, 0),)


def test_snapshots_are_immutable_copies() -> None:
    tracker = ErrorTracker()
    tracker.record("a")
    stats = tracker.snapshot()
    tracker.record("a")
    tracker.record("b")
    assert stats.total_errors == 1
    assert stats.entries[0].count == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.total_errors = 5  # type: ignore[misc]


def test_uses_the_wall_clock_by_default() -> None:
    tracker = ErrorTracker()
    before = time.time()
    tracker.record("a")
    after = time.time()
    [entry] = tracker.snapshot().entries
    assert before <= entry.first_seen == entry.last_seen <= after


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"capacity": 0}, "capacity"),
        ({"exact_unique_limit": -1}, "exact_unique_limit"),
        ({"top_errors_capacity": 0}, "top_errors_capacity"),
        ({"capacity": 2.0}, "capacity"),
        ({"clock": 5}, "clock"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ErrorTracker(**kwargs)


def test_usable_from_asyncio_tasks() -> None:
    tracker = ErrorTracker()

    async def worker(n: int) -> None:
        for i in range(200):
            tracker.record(f"task error {i % 5}")
            if i % 50 == 0:
                await asyncio.sleep(0)
        del n

    async def main() -> ErrorStats:
        await asyncio.gather(*(worker(n) for n in range(10)))
        return tracker.snapshot()

    stats = asyncio.run(main())
    assert stats.total_errors == 2_000
    assert stats.get_top_errors(5) == [(f"task error {i}", 400) for i in range(5)]


# -- ErrorStats ----------------------------------------------------------------


def sample_stats() -> ErrorStats:
    return ErrorStats(
        total_errors=6,
        unique_errors=3,
        unique_errors_estimated=False,
        unique_errors_standard_error=0.0,
        buffer_capacity=10,
        entries=(ErrorEntry('say "hi"\\', 2, 1.5, 2.5), ErrorEntry("ünïcode", 1, 3.0, 3.0)),
        top_errors=(TopError("a", 3, 0), TopError('say "hi"\\', 2, 0), TopError("ünïcode", 1, 0)),
        top_errors_exact=True,
    )


def test_get_top_errors_limits_and_validates() -> None:
    stats = sample_stats()
    assert stats.get_top_errors() == [("a", 3), ('say "hi"\\', 2), ("ünïcode", 1)]
    assert stats.get_top_errors(1) == [("a", 3)]
    assert stats.get_top_errors(0) == []
    with pytest.raises(ValueError, match="limit"):
        stats.get_top_errors(-1)
    with pytest.raises(TypeError):
        stats.get_top_errors(1.5)  # type: ignore[arg-type]


def test_to_dict_is_json_ready_and_complete() -> None:
    stats = sample_stats()
    data = json.loads(json.dumps(stats.to_dict()))
    assert data == {
        "total_errors": 6,
        "unique_errors": 3,
        "unique_errors_estimated": False,
        "unique_errors_standard_error": 0.0,
        "buffer_capacity": 10,
        "buffered_errors": 2,
        "entries": [
            {"message": 'say "hi"\\', "count": 2, "first_seen": 1.5, "last_seen": 2.5},
            {"message": "ünïcode", "count": 1, "first_seen": 3.0, "last_seen": 3.0},
        ],
        "top_errors": [
            {"message": "a", "count": 3, "error": 0},
            {"message": 'say "hi"\\', "count": 2, "error": 0},
            {"message": "ünïcode", "count": 1, "error": 0},
        ],
        "top_errors_exact": True,
    }
    assert len(stats.to_dict(top_limit=1)["top_errors"]) == 1


# -- fork ----------------------------------------------------------------------


def wait_for_child(pid: int, deadline_seconds: float = 30.0) -> int:
    """The child's exit code; kills it and fails the test if it does not finish in time."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung (deadlocked on the tracker's lock?)")
        time.sleep(0.01)


def fork_and_check(tracker: ErrorTracker, expected_total: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            tracker.record("recorded in the child")
            stats = tracker.snapshot()
            if stats.total_errors == expected_total and stats.entries[0].message == "recorded in the child":
                code = 0
        finally:
            os._exit(code)
    return wait_for_child(pid)


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform has no os.fork")


@needs_fork
def test_child_gets_a_fresh_lock_when_another_thread_holds_it_at_fork() -> None:
    tracker = ErrorTracker()
    tracker.record("before the fork")
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with tracker._lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_lock, daemon=True)
    holder.start()
    assert held.wait(10)
    try:
        assert fork_and_check(tracker, expected_total=2) == 0
    finally:
        release.set()
        holder.join(10)
    tracker.record("after the fork")
    assert tracker.snapshot().total_errors == 2  # the parent never saw the child's record


@needs_fork
def test_fork_leaves_the_parents_lock_free_and_state_intact() -> None:
    tracker = ErrorTracker()
    for _ in range(3):
        tracker.record("parent error")
    assert fork_and_check(tracker, expected_total=4) == 0
    # The fork hooks released the lock: another thread can take it at once.
    taken: list[bool] = []

    def try_lock() -> None:
        taken.append(tracker._lock.acquire(blocking=False))
        if taken[0]:
            tracker._lock.release()

    other = threading.Thread(target=try_lock)
    other.start()
    other.join(10)
    assert taken == [True]
    assert tracker.snapshot().total_errors == 3


# -- the lock ------------------------------------------------------------------


def run_in_thread(target: object, timeout: float = 30.0) -> None:
    """Run ``target`` in a thread and fail if it does not finish (a lock left held)."""
    errors: list[BaseException] = []

    def wrapper() -> None:
        try:
            target()  # type: ignore[operator]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=wrapper, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the thread is stuck on the tracker's lock"
    assert errors == []


def test_a_failed_record_releases_the_lock_and_counts_nothing() -> None:
    tracker = ErrorTracker()
    tracker.record("fine")
    with pytest.raises(TypeError):
        tracker.record(["not", "hashable"])  # type: ignore[arg-type]
    run_in_thread(lambda: tracker.record("from another thread"))
    stats = tracker.snapshot()
    assert stats.total_errors == 2
    assert sum(t.count for t in stats.top_errors) == 2


def test_recording_waits_for_a_held_lock_then_counts() -> None:
    clock_reads = []

    def counting_clock() -> float:  # read by record() just before it takes the lock
        clock_reads.append(1)
        return time.time()

    tracker = ErrorTracker(clock=counting_clock)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with tracker._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_lock, daemon=True)
    holder.start()
    assert held.wait(10)
    recorders = [threading.Thread(target=tracker.record, args=(f"k{i % 3}",)) for i in range(6)]
    for thread in recorders:
        thread.start()
    deadline = time.monotonic() + 30
    while len(clock_reads) < len(recorders) and time.monotonic() < deadline:  # every recorder at the lock
        held.wait(0.01)
    assert len(clock_reads) == len(recorders)
    assert tracker._total == 0 and len(tracker._slots) == 0  # nothing changed while held
    release.set()
    for thread in [*recorders, holder]:
        thread.join(30)
        assert not thread.is_alive()
    stats = tracker.snapshot()
    assert stats.total_errors == 6
    assert stats.get_top_errors() == [("k0", 2), ("k1", 2), ("k2", 2)]
