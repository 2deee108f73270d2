"""Each merge of the multi-process mode against a single-process reference fed the same records.

Buffers, unique types (exact and HyperLogLog), Space-Saving top errors with their error
bounds, and SQL histograms: the records are dealt out to several "workers", each worker's
state is built as one process would build it, and the merge is checked against a reference
that saw every record.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.buffer import ErrorMessageBuffer, merge_buffers
from tracker.sketches import (
    MASK64,
    HyperLogLog,
    SpaceSaving,
    UniqueCounter,
    estimate_registers,
    merge_registers,
    merge_space_saving,
    merge_unique,
)

KEYS = st.sampled_from([f"error {c}" for c in "abcdefghij"])


def deal(stream: list, workers: list[int]) -> list[list]:
    """Split ``stream`` among workers: item i goes to worker ``workers[i % len(workers)]``."""
    count = max(workers) + 1
    parts: list[list] = [[] for _ in range(count)]
    for i, item in enumerate(stream):
        parts[workers[i % len(workers)]].append(item)
    return parts


# -- buffers -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(KEYS, max_size=80),
    workers=st.lists(st.integers(0, 3), min_size=1, max_size=7),
    capacity=st.integers(1, 6),
)
def test_merged_buffer_matches_a_single_buffer_fed_everything(
    stream: list[str], workers: list[int], capacity: int
) -> None:
    timed = [(key, 1000.0 + i) for i, key in enumerate(stream)]  # one clock, strictly increasing
    reference = ErrorMessageBuffer(capacity)
    for key, now in timed:
        reference.record(key, now)
    buffers = []
    for part in deal(timed, workers):
        buffer = ErrorMessageBuffer(capacity)
        for key, now in part:
            buffer.record(key, now)
        buffers.append(buffer.rows())
    merged = merge_buffers(buffers, capacity)
    expected = reference.rows()
    # The same entries, most recently seen first, with the same last-seen times: the `capacity`
    # most recent types overall are each still buffered by the worker that saw them last.
    assert [(m, last) for m, _, _, last in merged] == [(m, last) for m, _, _, last in expected]
    occurrences = Counter(stream)
    first = {}
    for key, now in timed:
        first.setdefault(key, now)
    for message, count, first_seen, last_seen in merged:
        assert 1 <= count <= occurrences[message]
        assert first[message] <= first_seen <= last_seen
    if len(set(stream)) <= capacity:  # nothing was evicted anywhere: the merge is exact
        assert merged == expected


def test_merge_buffers_adds_counts_and_widens_times() -> None:
    merged = merge_buffers(
        [[("a", 2, 10.0, 20.0), ("b", 1, 5.0, 5.0)], [("a", 3, 8.0, 15.0), ("c", 4, 1.0, 30.0)]], 2
    )
    assert merged == [("c", 4, 1.0, 30.0), ("a", 5, 8.0, 20.0)]


# -- unique types --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    hashes=st.lists(st.integers(0, MASK64), max_size=120),
    workers=st.lists(st.integers(0, 4), min_size=1, max_size=6),
    exact_limit=st.integers(0, 60),
)
def test_merged_unique_count_matches_one_counter_fed_everything(
    hashes: list[int], workers: list[int], exact_limit: int
) -> None:
    reference = UniqueCounter(exact_limit)
    for h in hashes:
        reference.add(h)
    parts = []
    for part in deal(hashes, workers):
        counter = UniqueCounter(exact_limit)
        registers = HyperLogLog(14)
        for h in part:
            counter.add(h)
            registers.add(h)
        parts.append((None if counter.estimated else sorted(set(part)), registers.registers))
    count, estimated, error = merge_unique(parts, exact_limit)
    assert (count, estimated, error) == (reference.count(), reference.estimated, reference.standard_error)
    if not estimated:
        assert count == len(set(hashes))  # the size of the union, never the sum


def test_unique_union_is_not_the_sum() -> None:
    registers = HyperLogLog(14)
    for h in (1, 2, 3):
        registers.add(h)
    same = ([1, 2, 3], registers.registers)
    assert merge_unique([same, same, same], 100) == (3, False, 0.0)


def test_merged_registers_equal_the_registers_of_the_union() -> None:
    rng = random.Random(7)
    sketches = [HyperLogLog(12) for _ in range(5)]
    union = HyperLogLog(12)
    for _ in range(40_000):
        h = rng.getrandbits(64)
        rng.choice(sketches).add(h)
        union.add(h)
    merged = merge_registers(s.registers for s in sketches)
    assert merged == union.registers
    assert estimate_registers(merged, 12) == union.estimate()
    assert abs(union.estimate() - 40_000) < 40_000 * 5 * union.standard_error


def test_merge_registers_rejects_different_sizes() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        merge_registers([bytes(16), bytes(32)])


# -- top errors ----------------------------------------------------------------------------


def summary(stream: list[str], capacity: int) -> tuple[dict[str, int], dict[str, int], int]:
    top = SpaceSaving(capacity)
    for key in stream:
        top.increment(key)
    counts, errors = top.state()
    return counts, errors, top.floor()


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(st.sampled_from([f"e{i}" for i in range(14)]), max_size=150),
    workers=st.lists(st.integers(0, 3), min_size=1, max_size=6),
    capacity=st.integers(1, 8),
    skew=st.booleans(),
)
def test_merged_space_saving_keeps_its_error_bounds(
    stream: list[str], workers: list[int], capacity: int, skew: bool
) -> None:
    if skew:  # a heavy hitter, as real error streams have
        stream = [k if i % 3 else "e0" for i, k in enumerate(stream)]
    truth = Counter(stream)
    parts = deal(stream, workers)
    summaries = [summary(part, capacity) for part in parts]
    counts, errors, floor = merge_space_saving(summaries, capacity)
    assert len(counts) <= capacity
    assert set(errors) <= set(counts)
    bound = sum(len(part) / capacity for part in parts)  # each summary errs by at most N_i / k
    for key, count in counts.items():
        error = errors.get(key, 0)
        assert count - error <= truth[key] <= count
        assert error <= bound
    for key, frequency in truth.items():
        if key not in counts:
            assert frequency <= floor  # the floor bounds every key left out
    if len(truth) <= capacity:
        # Nothing evicted anywhere: exactly the reference's counts, and a merged floor of 0.
        reference = summary(stream, capacity)
        assert (counts, errors, floor) == (reference[0], reference[1], 0) == (dict(truth), {}, 0)
    # Merging merged summaries keeps the guarantees (a dead worker's summary merged again later).
    halves = [summaries[: len(summaries) // 2], summaries[len(summaries) // 2:]]
    again = merge_space_saving([merge_space_saving(h, capacity) for h in halves], capacity)
    for key, count in again[0].items():
        assert count - again[1].get(key, 0) <= truth[key] <= count
    for key, frequency in truth.items():
        if key not in again[0]:
            assert frequency <= again[2]


def test_a_heavy_hitter_split_across_workers_is_found_with_its_exact_count() -> None:
    rng = random.Random(3)
    streams = []
    for w in range(4):
        noise = [f"worker {w} noise {rng.randrange(10_000)}" for _ in range(500)]
        stream = ["database offline"] * 500 + noise
        rng.shuffle(stream)
        streams.append(stream)
    counts, errors, floor = merge_space_saving([summary(s, 50) for s in streams], 50)
    best = max(counts, key=counts.get)
    assert best == "database offline"
    assert counts[best] - errors.get(best, 0) <= 2000 <= counts[best]
    assert floor > 0


def test_space_saving_floor_is_zero_until_an_eviction() -> None:
    top = SpaceSaving(2)
    top.increment("a")
    top.increment("a")
    top.increment("b")
    assert top.floor() == 0
    top.increment("c")  # evicts b (count 1): c starts at 2 with error 1
    assert top.floor() == 2
