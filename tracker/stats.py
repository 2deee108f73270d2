"""Immutable snapshots of the error-tracking state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .buffer import ErrorEntry


@dataclass(frozen=True)
class TopError:
    """A frequent error type: its count overestimates the true count by at most ``error``."""

    message: str
    count: int
    error: int


@dataclass(frozen=True)
class ErrorStats:
    """Everything known about recorded errors, taken at one instant under one lock."""

    total_errors: int
    """Errors recorded since start or reset."""
    unique_errors: int
    """Distinct error types since start or reset (estimated when ``unique_errors_estimated``)."""
    unique_errors_estimated: bool
    """True once the exact cap was passed and ``unique_errors`` is a HyperLogLog estimate."""
    unique_errors_standard_error: float
    """Relative standard error of ``unique_errors`` (0.0 while exact)."""
    buffer_capacity: int
    """The most entries the rolling buffer holds."""
    entries: tuple[ErrorEntry, ...]
    """The buffered errors, most recently seen first."""
    top_errors: tuple[TopError, ...]
    """The most frequent error types since start or reset, by count (empty when not requested)."""
    top_errors_exact: bool
    """True while every top count is exact (no Space-Saving counter has been reassigned)."""
    dropped: Mapping[str, int] = field(default_factory=dict, compare=False)
    """Messages not recorded since start, by reason (``names.DROP_REASONS``); kept across resets."""

    @property
    def buffered_count(self) -> int:
        """Entries in the rolling buffer."""
        return len(self.entries)

    def get_top_errors(self, limit: int = 10) -> list[tuple[str, int]]:
        """The ``limit`` most frequent error types as ``(message, count)``, largest first."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0 (got {limit})")
        return [(top.message, top.count) for top in self.top_errors[:limit]]

    def to_dict(self, top_limit: int | None = None) -> dict[str, Any]:
        """A JSON-ready dict; ``top_limit`` keeps only that many top errors (default all)."""
        top = self.top_errors if top_limit is None else self.top_errors[: max(top_limit, 0)]
        return {
            "total_errors": self.total_errors,
            "unique_errors": self.unique_errors,
            "unique_errors_estimated": self.unique_errors_estimated,
            "unique_errors_standard_error": self.unique_errors_standard_error,
            "buffer_capacity": self.buffer_capacity,
            "buffered_errors": len(self.entries),
            "entries": [
                {"message": e.message, "count": e.count, "first_seen": e.first_seen, "last_seen": e.last_seen}
                for e in self.entries
            ],
            "top_errors": [{"message": t.message, "count": t.count, "error": t.error} for t in top],
            "top_errors_exact": self.top_errors_exact,
        }
