"""HyperLogLog, UniqueCounter (exact, then estimated) and Space-Saving top-k."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from tracker.sketches import MASK64, HyperLogLog, SpaceSaving, UniqueCounter, rank_counters


def random_hashes(count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(count)]


def assert_within(estimate: float, true: int, standard_error: float, sigmas: float = 4.0) -> None:
    assert abs(estimate - true) <= sigmas * standard_error * true, (estimate, true)


# -- HyperLogLog ---------------------------------------------------------------


def test_hll_defaults_to_precision_14_and_its_standard_error() -> None:
    hll = HyperLogLog()
    assert hll.precision == 14
    assert hll.standard_error == pytest.approx(1.04 / 128)
    assert hll.standard_error < 0.01


@pytest.mark.parametrize("bad", [3, 19, 14.0, True, "14"])
def test_hll_rejects_bad_precision(bad: object) -> None:
    with pytest.raises(ValueError, match="precision"):
        HyperLogLog(bad)  # type: ignore[arg-type]


def test_hll_empty_estimate_is_zero() -> None:
    assert HyperLogLog().estimate() == 0.0


def test_hll_200_000_distinct_hashes_within_4_standard_errors() -> None:
    hll = HyperLogLog()
    for h in random_hashes(200_000, seed=1):
        hll.add(h)
    assert_within(hll.estimate(), 200_000, hll.standard_error)


@pytest.mark.parametrize("true", [10, 1_000, 20_000, 41_000, 60_000, 90_000])
def test_hll_is_accurate_across_small_and_transition_ranges(true: int) -> None:
    # 41,000 is about 2.5 registers per register count, where the classic estimator is biased.
    hll = HyperLogLog()
    for h in random_hashes(true, seed=true):
        hll.add(h)
    assert_within(hll.estimate(), true, hll.standard_error)


def test_hll_estimate_is_unbiased_on_average_near_the_classic_switch_point() -> None:
    # 150 sketches of 1,024 registers, each fed 2,700 values (about 2.6 per register): the
    # classic harmonic-mean estimator overestimates there by about 1.8% on average, six
    # standard errors of this mean.
    true, runs = 2_700, 150
    errors = []
    for seed in range(runs):
        hll = HyperLogLog(10)
        for h in random_hashes(true, seed=1000 + seed):
            hll.add(h)
        errors.append(hll.estimate() / true - 1)
    mean = sum(errors) / runs
    assert abs(mean) <= 3 * hll.standard_error / math.sqrt(runs)


def test_hll_duplicates_never_change_the_estimate() -> None:
    hll = HyperLogLog()
    hashes = random_hashes(30_000, seed=2)
    for h in hashes:
        hll.add(h)
    before = hll.estimate()
    for h in hashes[::-1]:
        hll.add(h)
    assert hll.estimate() == before


def test_hll_takes_signed_python_hashes_modulo_2_64() -> None:
    signed, unsigned = HyperLogLog(), HyperLogLog()
    for i in range(5_000):
        h = hash(f"error type {i}")
        signed.add(h)
        unsigned.add(h & MASK64)
    assert signed.estimate() == unsigned.estimate()
    assert_within(signed.estimate(), 5_000, signed.standard_error, sigmas=5)


def test_hll_clear_forgets_everything() -> None:
    hll = HyperLogLog(10)
    for h in random_hashes(5_000, seed=3):
        hll.add(h)
    hll.clear()
    assert hll.estimate() == 0.0
    hll.add(12345)
    assert hll.estimate() == pytest.approx(1.0, abs=0.01)


# -- UniqueCounter -------------------------------------------------------------


def test_unique_counter_is_exact_up_to_the_limit_then_switches() -> None:
    counter = UniqueCounter(exact_limit=1_000)
    hashes = random_hashes(1_001, seed=4)
    for h in hashes[:1_000]:
        counter.add(h)
    assert counter.count() == 1_000
    assert counter.estimated is False
    assert counter.standard_error == 0.0
    counter.add(hashes[1_000])
    assert counter.estimated is True
    assert counter.standard_error == pytest.approx(1.04 / 128)
    # Seeded with every exact hash: an unseeded sketch would report about 1.
    assert counter.count() >= 1_001
    assert_within(counter.count(), 1_001, counter.standard_error)


def test_unique_counter_duplicates_do_not_count_or_trigger_the_switch() -> None:
    counter = UniqueCounter(exact_limit=50)
    hashes = random_hashes(50, seed=5)
    for _ in range(3):
        for h in hashes:
            counter.add(h)
    assert counter.count() == 50
    assert counter.estimated is False


def test_unique_counter_duplicates_never_increase_the_estimate() -> None:
    counter = UniqueCounter(exact_limit=100)
    hashes = random_hashes(20_000, seed=6)
    for h in hashes:
        counter.add(h)
    before = counter.count()
    for h in hashes[:5_000]:
        counter.add(h)
    assert counter.count() == before
    assert_within(before, 20_000, counter.standard_error)


def test_unique_counter_limit_zero_estimates_from_the_first_value() -> None:
    counter = UniqueCounter(exact_limit=0)
    assert counter.count() == 0
    counter.add(7)
    assert counter.estimated is True
    assert counter.count() == 1


def test_unique_counter_clear_returns_to_exact_counting() -> None:
    counter = UniqueCounter(exact_limit=10)
    for h in random_hashes(100, seed=7):
        counter.add(h)
    assert counter.estimated
    counter.clear()
    assert counter.estimated is False
    assert counter.count() == 0
    counter.add(1)
    counter.add(1)
    assert counter.count() == 1


@pytest.mark.parametrize("bad", [-1, 1.5, None, True])
def test_unique_counter_rejects_bad_limits(bad: object) -> None:
    with pytest.raises(ValueError, match="exact_limit"):
        UniqueCounter(exact_limit=bad)  # type: ignore[arg-type]


# -- Space-Saving ----------------------------------------------------------------


def zipf_stream(length: int, keys: int, seed: int, s: float = 1.2) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (rank**s) for rank in range(1, keys + 1)]
    names = [f"key-{i}" for i in range(keys)]
    return rng.choices(names, weights=weights, k=length)


def test_space_saving_is_exact_while_nothing_was_evicted() -> None:
    top = SpaceSaving(capacity=10)
    stream = ["b", "a", "c", "a", "b", "a", "d"]
    for key in stream:
        top.increment(key)
    assert top.exact is True
    assert len(top) == 4
    assert top.top() == [("a", 3, 0), ("b", 2, 0), ("c", 1, 0), ("d", 1, 0)]
    assert top.top(2) == [("a", 3, 0), ("b", 2, 0)]
    assert top.top(0) == []


def test_space_saving_new_key_takes_over_the_smallest_counter() -> None:
    top = SpaceSaving(capacity=2)
    for key in ["a", "a", "a", "b", "b", "c"]:
        top.increment(key)
    assert top.exact is False
    assert top.top() == [("a", 3, 0), ("c", 3, 2)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_space_saving_guarantees_on_a_skewed_stream(seed: int) -> None:
    capacity, length = 50, 30_000
    stream = zipf_stream(length, keys=3_000, seed=seed)
    true = Counter(stream)
    top = SpaceSaving(capacity)
    for key in stream:
        top.increment(key)
    reported = top.top()
    assert top.exact is False
    assert len(reported) == len(top) == capacity
    assert sum(count for _, count, _ in reported) == length
    for key, count, error in reported:
        assert 0 <= error <= count
        assert count - error <= true[key] <= count
    monitored = {key for key, _, _ in reported}
    for key, frequency in true.items():
        if frequency > length / capacity:
            assert key in monitored
    counts = [count for _, count, _ in reported]
    assert counts == sorted(counts, reverse=True)


def test_space_saving_always_evicts_a_true_minimum_despite_stale_heap_entries() -> None:
    rng = random.Random(9)
    top = SpaceSaving(capacity=20)
    for step in range(20_000):
        # Heavy repeats make heap entries stale; a stream of newcomers forces evictions.
        key = f"hot-{rng.randrange(10)}" if rng.random() < 0.7 else f"new-{step}"
        full = len(top) == 20
        smallest = min((count for _, count, _ in top.top()), default=0)
        monitored = key in {k for k, _, _ in top.top()}
        top.increment(key)
        if full and not monitored:
            [(count, error)] = [(c, e) for k, c, e in top.top() if k == key]
            assert (count, error) == (smallest + 1, smallest)
        if step % 1000 == 0:
            assert len(top._heap) == len(top) <= 20  # one heap entry per counter: bounded


def test_space_saving_ties_are_ordered_by_key() -> None:
    top = SpaceSaving(capacity=5)
    for key in ["z", "y", "x", "y", "z", "x"]:
        top.increment(key)
    assert [key for key, _, _ in top.top()] == ["x", "y", "z"]


def test_space_saving_clear_restores_an_exact_empty_state() -> None:
    top = SpaceSaving(capacity=1)
    top.increment("a")
    top.increment("b")
    assert not top.exact
    top.clear()
    assert top.exact and len(top) == 0 and top.top() == []
    top.increment("c")
    assert top.top() == [("c", 1, 0)]


@pytest.mark.parametrize("bad", [0, -3, 2.5, None, False])
def test_space_saving_rejects_bad_capacity(bad: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        SpaceSaving(bad)  # type: ignore[arg-type]


def test_top_limit_must_be_a_non_negative_int() -> None:
    top = SpaceSaving()
    with pytest.raises(ValueError):
        top.top(-1)
    with pytest.raises(TypeError):
        top.top(True)  # type: ignore[arg-type]


def test_rank_counters_partial_and_full_orders_agree() -> None:
    rng = random.Random(11)
    counts = {f"k{i}": rng.randrange(1, 20) for i in range(300)}
    errors = {"k3": 2}
    full = rank_counters(counts, errors)
    assert full == sorted(((k, c, errors.get(k, 0)) for k, c in counts.items()), key=lambda t: (-t[1], t[0]))
    for n in (0, 1, 7, 299, 300, 500):
        assert rank_counters(counts, errors, n) == full[:n]
