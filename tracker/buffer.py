"""The rolling buffer of the most recent distinct error messages (least recently seen is evicted)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import DEFAULT_BUFFER_CAPACITY

#: One buffered error as plain values: ``(message, count, first_seen, last_seen)``.
Row = tuple[str, int, float, float]


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One buffered error: its displayed message, occurrences and Unix times (float seconds)."""

    message: str
    count: int
    first_seen: float
    last_seen: float

    @property
    def timestamp(self) -> int:
        """The spec's second-level timestamp: when this entry was first seen."""
        return int(self.first_seen)


class ErrorMessageBuffer:
    """The ``capacity`` most recently seen distinct messages, each with its count and times.

    A repeated message increments its entry and makes it the most recent again, so an
    error that is still happening is never the one evicted; when full, the entry seen
    least recently is evicted. A message recorded again after eviction starts afresh.
    ``first_seen`` and ``last_seen`` are the earliest and latest ``now`` of the entry's
    occurrences (with a clock that never goes back: the first and the latest).

    Not locked: :class:`~tracker.tracking.ErrorTracker` guards every call with its lock.
    """

    __slots__ = ("_capacity", "_slots")

    def __init__(self, capacity: int = DEFAULT_BUFFER_CAPACITY) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise ValueError(f"capacity must be an int >= 1 (got {capacity!r})")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 (got {capacity!r})")
        self._capacity = capacity
        # message -> [count, first_seen, last_seen], least to most recently seen. A plain dict:
        # re-inserting a key moves it to the end, and ErrorTracker.record inlines the bump.
        self._slots: dict[str, list] = {}

    @property
    def capacity(self) -> int:
        """The most entries the buffer holds."""
        return self._capacity

    def record(self, message: str, now: float) -> bool:
        """Count one occurrence of ``message`` at Unix time ``now``; true when it was not buffered."""
        slots = self._slots
        if message in slots:
            slot = slots.pop(message)
            slots[message] = slot
            slot[0] += 1
            if now > slot[2]:
                slot[2] = now
            elif now < slot[1]:
                slot[1] = now
            return False
        if len(slots) >= self._capacity:
            del slots[next(iter(slots))]
        slots[message] = [1, now, now]
        return True

    def rows(self) -> list[Row]:
        """The entries as plain tuples, newest first (cheap enough to copy under a lock)."""
        return [(message, s[0], s[1], s[2]) for message, s in reversed(self._slots.items())]

    def entries(self) -> list[ErrorEntry]:
        """The entries, most recently seen first."""
        return [ErrorEntry(*row) for row in self.rows()]

    def clear(self) -> None:
        """Drop every entry."""
        self._slots.clear()

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, message: object) -> bool:
        return message in self._slots

    def __repr__(self) -> str:
        return f"ErrorMessageBuffer(capacity={self._capacity}, entries={len(self._slots)})"


def merge_buffers(buffers: Iterable[Iterable[Row]], capacity: int) -> list[Row]:
    """The union of several buffers as one of ``capacity`` entries, most recently seen first.

    One entry per message: counts added, ``first_seen`` the earliest and ``last_seen`` the
    latest; the ``capacity`` most recently seen are kept (ties: larger count, then message).
    """
    merged: dict[str, list] = {}
    for rows in buffers:
        for message, count, first, last in rows:
            entry = merged.get(message)
            if entry is None:
                merged[message] = [count, first, last]
                continue
            entry[0] += count
            if first < entry[1]:
                entry[1] = first
            if last > entry[2]:
                entry[2] = last
    ranked = sorted(merged.items(), key=lambda item: (-item[1][2], -item[1][0], item[0]))
    return [(message, e[0], e[1], e[2]) for message, e in ranked[:capacity]]
