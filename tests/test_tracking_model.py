"""Model-based test: ErrorTracker against plain lists and dicts, driven by Hypothesis."""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tracker.buffer import ErrorEntry, ErrorMessageBuffer
from tracker.tracking import ErrorTracker

KEYS = st.sampled_from(["disk full", "timeout", "oom", "bad input", "a", "b", ""])


class TrackerMachine(RuleBasedStateMachine):
    """The reference: an ordered list of buffered messages and dicts of everything seen."""

    @initialize(
        capacity=st.integers(1, 4),
        top_capacity=st.integers(1, 8),
        exact_limit=st.one_of(st.just(1_000_000), st.integers(0, 4)),
        start=st.floats(0, 2e9, allow_nan=False),
    )
    def setup(self, capacity: int, top_capacity: int, exact_limit: int, start: float) -> None:
        self.now = start
        self.capacity = capacity
        self.top_capacity = top_capacity
        self.exact_limit = exact_limit
        self.tracker = ErrorTracker(
            capacity=capacity,
            exact_unique_limit=exact_limit,
            top_errors_capacity=top_capacity,
            clock=lambda: self.now,
        )
        self.buffer = ErrorMessageBuffer(capacity)  # the same semantics, used on its own
        self.clear_model()

    def clear_model(self) -> None:
        self.order: list[str] = []  # least to most recently seen
        self.slots: dict[str, list[float]] = {}  # message -> [count, first, last]
        self.total = 0
        self.frequency: Counter[str] = Counter()

    @rule(key=KEYS)
    def record(self, key: str) -> None:
        self.tracker.record(key)
        assert self.buffer.record(key, self.now) is (key not in self.slots)
        self.total += 1
        self.frequency[key] += 1
        if key in self.slots:
            self.order.remove(key)
            self.slots[key][0] += 1
            self.slots[key][1] = min(self.slots[key][1], self.now)
            self.slots[key][2] = max(self.slots[key][2], self.now)
        else:
            if len(self.order) == self.capacity:
                del self.slots[self.order.pop(0)]
            self.slots[key] = [1, self.now, self.now]
        self.order.append(key)

    @rule(seconds=st.floats(0, 3600, allow_nan=False))
    def advance_clock(self, seconds: float) -> None:
        self.now += seconds

    @rule(seconds=st.floats(0, 60, allow_nan=False))
    def step_clock_back(self, seconds: float) -> None:
        # Wall clocks can step back: times stay the earliest and latest of the occurrences.
        self.now -= seconds

    @rule()
    def reset(self) -> None:
        self.tracker.reset()
        self.buffer.clear()
        self.clear_model()

    @invariant()
    def snapshot_matches_the_model(self) -> None:
        stats = self.tracker.snapshot()
        assert stats.total_errors == self.total
        assert stats.buffer_capacity == self.capacity
        expected_entries = tuple(
            ErrorEntry(m, int(self.slots[m][0]), self.slots[m][1], self.slots[m][2])
            for m in reversed(self.order)
        )
        assert stats.entries == expected_entries
        assert tuple(self.buffer.entries()) == expected_entries
        assert len(self.buffer) == len(self.order)
        assert stats.buffered_count == len(self.order) <= self.capacity

        distinct = len(self.frequency)
        if distinct <= self.exact_limit:
            assert stats.unique_errors == distinct
            assert not stats.unique_errors_estimated
            assert stats.unique_errors_standard_error == 0.0
        else:
            assert stats.unique_errors_estimated
            assert stats.unique_errors >= self.exact_limit + 1
            assert abs(stats.unique_errors - distinct) <= 1

        top = [(t.message, t.count, t.error) for t in stats.top_errors]
        assert sum(count for _, count, _ in top) == self.total
        if distinct <= self.top_capacity:
            assert stats.top_errors_exact
            assert top == sorted(((k, c, 0) for k, c in self.frequency.items()), key=lambda t: (-t[1], t[0]))
        else:
            assert not stats.top_errors_exact
            assert len(top) == self.top_capacity
            for key, count, error in top:
                assert count - error <= self.frequency[key] <= count
            monitored = {key for key, _, _ in top}
            for key, frequency in self.frequency.items():
                if frequency * self.top_capacity > self.total:
                    assert key in monitored
        assert [count for _, count, _ in top] == sorted((c for _, c, _ in top), reverse=True)
        assert stats.get_top_errors(2) == [(k, c) for k, c, _ in top[:2]]


TrackerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_tracker_matches_the_reference_model = TrackerMachine.TestCase
