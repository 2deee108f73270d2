"""ErrorMessageBuffer and ErrorEntry: dedupe, least-recently-seen eviction, order, times."""

from __future__ import annotations

import dataclasses

import pytest

from tracker.buffer import ErrorEntry, ErrorMessageBuffer


def messages(buffer: ErrorMessageBuffer) -> list[str]:
    return [e.message for e in buffer.entries()]


def test_default_capacity_is_ten() -> None:
    assert ErrorMessageBuffer().capacity == 10


@pytest.mark.parametrize("bad", [0, -1, 2.0, "3", None, True])
def test_invalid_capacity_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        ErrorMessageBuffer(bad)  # type: ignore[arg-type]


def test_capacity_is_read_only() -> None:
    buffer = ErrorMessageBuffer(3)
    with pytest.raises(AttributeError):
        buffer.capacity = 5  # type: ignore[misc]


def test_repeated_message_counts_instead_of_adding_an_entry() -> None:
    buffer = ErrorMessageBuffer(5)
    assert buffer.record("Connection failed", 100.0) is True
    assert buffer.record("Connection failed", 105.5) is False
    assert buffer.record("Timeout error", 107.0) is True
    assert len(buffer) == 2
    assert buffer.entries() == [
        ErrorEntry("Timeout error", 1, 107.0, 107.0),
        ErrorEntry("Connection failed", 2, 100.0, 105.5),
    ]


def test_entries_are_newest_first_and_a_repeat_becomes_newest() -> None:
    buffer = ErrorMessageBuffer(5)
    for t, message in enumerate(["a", "b", "c"]):
        buffer.record(message, float(t))
    assert messages(buffer) == ["c", "b", "a"]
    buffer.record("a", 10.0)
    assert messages(buffer) == ["a", "c", "b"]


def test_full_buffer_evicts_the_least_recently_seen_not_the_still_happening_error() -> None:
    buffer = ErrorMessageBuffer(3)
    buffer.record("still happening", 1.0)
    buffer.record("b", 2.0)
    buffer.record("c", 3.0)
    buffer.record("still happening", 4.0)  # oldest by first sight, but recent again
    buffer.record("d", 5.0)
    assert messages(buffer) == ["d", "still happening", "c"]
    assert "b" not in buffer
    assert "still happening" in buffer


def test_evicted_message_comes_back_as_a_new_entry() -> None:
    buffer = ErrorMessageBuffer(2)
    buffer.record("a", 1.0)
    buffer.record("a", 2.0)
    buffer.record("b", 3.0)
    buffer.record("c", 4.0)  # evicts a (count 2)
    assert buffer.record("a", 5.0) is True
    assert buffer.entries()[0] == ErrorEntry("a", 1, 5.0, 5.0)
    assert messages(buffer) == ["a", "c"]


def test_capacity_one_keeps_only_the_latest_message() -> None:
    buffer = ErrorMessageBuffer(1)
    buffer.record("a", 1.0)
    buffer.record("a", 2.0)
    assert buffer.entries() == [ErrorEntry("a", 2, 1.0, 2.0)]
    assert buffer.record("b", 3.0) is True
    assert buffer.entries() == [ErrorEntry("b", 1, 3.0, 3.0)]
    assert "a" not in buffer


def test_never_holds_more_than_capacity() -> None:
    buffer = ErrorMessageBuffer(4)
    for i in range(100):
        buffer.record(f"m{i % 9}", float(i))
        assert len(buffer) <= 4
    assert len(buffer) == 4


def test_clear_empties_and_counts_restart() -> None:
    buffer = ErrorMessageBuffer(3)
    buffer.record("a", 1.0)
    buffer.record("a", 2.0)
    buffer.clear()
    assert len(buffer) == 0
    assert buffer.entries() == []
    assert "a" not in buffer
    assert buffer.record("a", 3.0) is True
    assert buffer.entries() == [ErrorEntry("a", 1, 3.0, 3.0)]


def test_rows_match_entries() -> None:
    buffer = ErrorMessageBuffer(3)
    buffer.record("a", 1.0)
    buffer.record("b", 2.0)
    buffer.record("a", 3.0)
    assert buffer.rows() == [("a", 2, 1.0, 3.0), ("b", 1, 2.0, 2.0)]
    assert [ErrorEntry(*row) for row in buffer.rows()] == buffer.entries()


def test_entries_are_copies_unaffected_by_later_records() -> None:
    buffer = ErrorMessageBuffer(3)
    buffer.record("a", 1.0)
    before = buffer.entries()
    buffer.record("a", 2.0)
    assert before == [ErrorEntry("a", 1, 1.0, 1.0)]


def test_entry_timestamp_is_the_first_seen_second() -> None:
    entry = ErrorEntry("x", 3, 1_700_000_123.9, 1_700_000_200.2)
    assert entry.timestamp == 1_700_000_123
    assert isinstance(entry.timestamp, int)


def test_entry_is_frozen_and_slotted() -> None:
    entry = ErrorEntry("x", 1, 1.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.count = 2  # type: ignore[misc]
    assert not hasattr(entry, "__dict__")


def test_times_are_the_earliest_and_latest_when_the_clock_steps_back() -> None:
    buffer = ErrorMessageBuffer(3)
    buffer.record("a", 100.0)
    buffer.record("a", 90.0)  # the clock stepped back
    assert buffer.entries() == [ErrorEntry("a", 2, 90.0, 100.0)]
    buffer.record("a", 120.0)
    assert buffer.entries() == [ErrorEntry("a", 3, 90.0, 120.0)]
