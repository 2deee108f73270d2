"""``ErrorTracker``: the total, the buffer, unique types and top errors under one lock."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable

from .buffer import ErrorEntry, ErrorMessageBuffer
from .config import DEFAULT_BUFFER_CAPACITY, DEFAULT_EXACT_UNIQUE_LIMIT, DEFAULT_TOP_ERRORS_CAPACITY
from .names import DROP_REASONS, DROP_REENTRANT
from .sketches import MASK64, SpaceSaving, UniqueCounter, rank_counters
from .stats import ErrorStats, TopError

_FORK_LOCK_WAIT = 0.1
"""Seconds a fork waits for each tracker's lock so the child copies a consistent state."""

_YIELDS_BEFORE_SLEEPING = 1000
_BACKOFF_SECONDS = 50e-6

_live: weakref.WeakSet[ErrorTracker] = weakref.WeakSet()


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} (got {value!r})")


def _wait_for(lock: threading.RLock) -> None:
    """Take ``lock`` by retrying, never by queueing on it.

    Under the GIL a busy lock is almost always held by a thread waiting for the GIL. A
    thread blocked in ``acquire()`` is handed the lock as soon as it is released, and then
    itself waits for the GIL while everyone else queues behind it: a convoy that cuts
    8-thread throughput several times. Yielding the GIL and retrying lets the holder finish.

    The lock is re-entrant, so a thread that already holds it (a signal handler or a
    finalizer that records while this thread is inside the tracker) takes it at once and
    never spins here: the caller then sees ``_busy`` and drops the record.
    """
    tries = 0
    while not lock.acquire(False):
        time.sleep(0.0 if tries < _YIELDS_BEFORE_SLEEPING else _BACKOFF_SECONDS)
        tries += 1


class ErrorTracker:
    """Records normalized error keys; every read is one snapshot taken under one lock.

    Nothing under the lock does I/O or waits on anything else, so it is safe to call from
    threads and from asyncio code. After ``os.fork()`` the child gets a fresh lock.

    Re-entrancy: a record made by the very thread that is halfway through changing the
    state (a signal handler, a finalizer, a hook that records) is dropped and counted under
    ``reason="reentrant"``: never a hang, never a half-applied update.

    The clock is read just before the lock is taken, so under concurrency the recency order
    of entries and their times may disagree by as long as a thread waited for the lock.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_BUFFER_CAPACITY,
        exact_unique_limit: int = DEFAULT_EXACT_UNIQUE_LIMIT,
        top_errors_capacity: int = DEFAULT_TOP_ERRORS_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _require_int("capacity", capacity, 1)
        _require_int("exact_unique_limit", exact_unique_limit, 0)
        _require_int("top_errors_capacity", top_errors_capacity, 1)
        if not callable(clock):
            raise ValueError(f"clock must be callable (got {clock!r})")
        self._buffer = ErrorMessageBuffer(capacity)
        self._unique = UniqueCounter(exact_unique_limit)
        self._top = SpaceSaving(top_errors_capacity)
        self._clock = clock
        self._total = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._busy = False  # True while a thread is changing the state under the lock
        self._lock = threading.RLock()
        # The dicts record() updates inline; clear() empties them in place, so these stay valid.
        self._slots = self._buffer._slots
        self._top_counts = self._top._counts
        _live.add(self)

    @property
    def capacity(self) -> int:
        """The buffer's capacity."""
        return self._buffer.capacity

    def record(self, key: str) -> None:
        """Count one error whose normalized text is ``key``."""
        now = self._clock()
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        if self._busy:  # this thread is already inside: interrupted mid-update
            self._dropped[DROP_REENTRANT] += 1
            lock.release()
            return
        self._busy = True
        try:
            # Inlined ErrorMessageBuffer.record and SpaceSaving.increment for a key already
            # buffered and monitored: no call, so CPython does not switch threads mid-update.
            slots = self._slots
            slot = slots.pop(key, None)
            if slot is not None:
                slots[key] = slot  # most recent again
                slot[0] += 1
                if now > slot[2]:
                    slot[2] = now
                elif now < slot[1]:
                    slot[1] = now
            else:
                self._buffer.record(key, now)
                # Keys in the buffer were counted when they entered (a reset clears both).
                self._unique.add(hash(key) & MASK64)
            counts = self._top_counts
            count = counts.get(key)
            if count is not None:
                counts[key] = count + 1
            else:
                self._top.increment(key)
            self._total += 1
        finally:
            self._busy = False
            lock.release()

    def count_dropped(self, reason: str) -> None:
        """Count one error message that was not recorded, by ``reason`` (see ``names.DROP_REASONS``)."""
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        try:
            self._dropped[reason] = self._dropped.get(reason, 0) + 1
        finally:
            lock.release()

    def snapshot(self, include_top: bool = True, top_limit: int | None = None) -> ErrorStats:
        """Everything at one instant.

        ``include_top=False`` leaves ``top_errors`` empty (cheap enough for every scrape);
        ``top_limit`` keeps only that many top errors (default all monitored ones).
        """
        unique = self._unique
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        try:
            total = self._total
            rows = self._buffer.rows()
            unique_count = unique.count()
            estimated = unique.estimated
            standard_error = unique.standard_error
            top_exact = self._top.exact
            counts, errors = self._top.state() if include_top else ({}, {})
            dropped = self._dropped.copy()
        finally:
            lock.release()
        return ErrorStats(
            total_errors=total,
            unique_errors=unique_count,
            unique_errors_estimated=estimated,
            unique_errors_standard_error=standard_error,
            buffer_capacity=self._buffer.capacity,
            entries=tuple(ErrorEntry(*row) for row in rows),
            top_errors=tuple(TopError(*item) for item in rank_counters(counts, errors, top_limit)),
            top_errors_exact=top_exact,
            dropped=dropped,
        )

    def reset(self) -> None:
        """Forget everything recorded: total, buffer, unique types and top errors.

        The dropped-message counts are kept: they count the tracker's own losses.
        """
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        if self._busy:
            lock.release()
            raise RuntimeError("reset_error_tracking() was called from inside a record on the same thread")
        try:
            self._total = 0
            self._buffer.clear()
            self._unique.clear()
            self._top.clear()
        finally:
            lock.release()

    def _after_fork_in_child(self) -> None:
        """Called in a forked child once the lock is fresh (a shared tracker opens its own file)."""

    def __repr__(self) -> str:
        return f"ErrorTracker(capacity={self._buffer.capacity})"


# -- fork safety ---------------------------------------------------------------


def _live_trackers() -> list[ErrorTracker]:
    while True:
        try:
            return list(_live)
        except RuntimeError:  # another thread created a tracker meanwhile
            continue


_held_over_fork: list[threading.RLock] = []


def _before_fork() -> None:
    # Wait briefly for each lock so the child copies a state no thread is halfway through
    # changing; a lock held for longer is left alone and the child replaces it anyway.
    for tracker in _live_trackers():
        lock = tracker._lock
        if lock.acquire(timeout=_FORK_LOCK_WAIT):
            _held_over_fork.append(lock)


def _after_fork_in_parent() -> None:
    while _held_over_fork:
        _held_over_fork.pop().release()


def _after_fork_in_child() -> None:
    _held_over_fork.clear()
    for tracker in _live_trackers():
        tracker._lock = threading.RLock()
        tracker._busy = False  # the thread that was inside does not exist in the child
        tracker._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )
