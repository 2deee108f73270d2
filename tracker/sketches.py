"""Bounded-memory counting: distinct values (exact, then HyperLogLog) and top-k (Space-Saving).

None of these classes is locked; :class:`~tracker.tracking.ErrorTracker` guards them.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Sequence
from operator import itemgetter

from .config import DEFAULT_EXACT_UNIQUE_LIMIT, DEFAULT_TOP_ERRORS_CAPACITY

MASK64 = (1 << 64) - 1
"""Masks Python's signed ``hash()`` to the unsigned 64-bit value the sketches take."""


class HyperLogLog:
    """Distinct-count estimator over 64-bit hashes with ``2**precision`` one-byte registers.

    :meth:`add` keeps a histogram of register values up to date, and :meth:`estimate` uses
    Ertl's improved estimator on it ("New cardinality estimation algorithms for HyperLogLog
    sketches", 2017): unlike the classic harmonic mean with a linear-counting switch, it has
    no bias bump around ``2.5 * m`` and needs no large-range correction. Its cost depends on
    the precision only (a few microseconds), and it is cached until a register changes.
    """

    __slots__ = ("_cached", "_histogram", "_m", "_precision", "_registers", "_value_bits", "_value_mask")

    def __init__(self, precision: int = 14) -> None:
        if isinstance(precision, bool) or not isinstance(precision, int) or not 4 <= precision <= 18:
            raise ValueError(f"precision must be an int from 4 to 18 (got {precision!r})")
        self._precision = precision
        self._m = 1 << precision
        self._value_bits = 64 - precision  # register values run from 0 to value_bits + 1
        self._value_mask = (1 << self._value_bits) - 1
        self.clear()

    @property
    def precision(self) -> int:
        """Bits of the hash that pick a register: there are ``2**precision`` registers."""
        return self._precision

    @property
    def standard_error(self) -> float:
        """Relative standard error of the estimate, ``1.04 / sqrt(m)``."""
        return 1.04 / math.sqrt(self._m)

    def add(self, h: int) -> None:
        """Add one 64-bit hash (negative values are taken modulo ``2**64``)."""
        h &= MASK64
        index = h >> self._value_bits
        rank = self._value_bits - (h & self._value_mask).bit_length() + 1
        old = self._registers[index]
        if rank > old:
            self._registers[index] = rank
            histogram = self._histogram
            histogram[old] -= 1
            histogram[rank] += 1
            self._cached = None

    def estimate(self) -> float:
        """The estimated number of distinct hashes added (0.0 when empty)."""
        if self._cached is None:
            self._cached = _ertl_estimate(self._histogram, self._m, self._value_bits)
        return self._cached

    @property
    def registers(self) -> bytes:
        """A copy of the registers (one byte each), for merging with other sketches."""
        return bytes(self._registers)

    def clear(self) -> None:
        """Forget every hash."""
        self._registers = bytearray(self._m)
        self._histogram = [0] * (self._value_bits + 2)
        self._histogram[0] = self._m
        self._cached: float | None = 0.0


def register_index_and_rank(h: int, precision: int) -> tuple[int, int]:
    """The register a 64-bit hash updates and the value it offers (as :meth:`HyperLogLog.add`)."""
    value_bits = 64 - precision
    h &= MASK64
    return h >> value_bits, value_bits - (h & ((1 << value_bits) - 1)).bit_length() + 1


def merge_registers(registers: Iterable[bytes]) -> bytes:
    """The register-wise maximum of equally long register arrays: the sketch of the union.

    Computed on the arrays as big integers, 8 bits a lane (SWAR), because register values
    stay below 64: ``(a | 0x80..) - b`` leaves each lane's top bit set exactly where
    ``a >= b``, which becomes a byte mask choosing ``a`` or ``b``. A 16 KiB array is merged
    in microseconds instead of a Python loop over every byte.
    """
    merged: int | None = None
    size = 0
    high = full = 0
    for array in registers:
        value = int.from_bytes(array, "little")
        if merged is None:
            merged, size = value, len(array)
            high, full = _lanes(size)
            continue
        if len(array) != size:
            raise ValueError(f"register arrays differ in size ({len(array)} != {size})")
        a_wins = ((((merged | high) - value) & high) >> 7) * 0xFF  # 0xFF lanes where merged >= value
        merged = (merged & a_wins) | (value & (full ^ a_wins))
    return b"" if merged is None else merged.to_bytes(size, "little")


@functools.lru_cache(maxsize=4)
def _lanes(size: int) -> tuple[int, int]:
    """``0x8080..80`` and ``0xFFFF..FF`` of ``size`` bytes."""
    return int.from_bytes(b"\x80" * size, "little"), (1 << (8 * size)) - 1


@functools.lru_cache(maxsize=8)
def estimate_registers(registers: bytes, precision: int) -> float:
    """HyperLogLog estimate (Ertl) from a register array of ``2**precision`` bytes (the last
    few are remembered: successive scrapes mostly merge to the same registers)."""
    m = 1 << precision
    if len(registers) != m:
        raise ValueError(f"expected {m} registers (got {len(registers)})")
    q = 64 - precision
    highest = max(registers) if registers else 0
    histogram = [registers.count(value) for value in range(highest + 1)] + [0] * (q + 1 - highest)
    return _ertl_estimate(histogram, m, q)


def merge_unique(
    parts: Iterable[tuple[Sequence[int] | None, bytes]], exact_limit: int, precision: int = 14
) -> tuple[int, bool, float]:
    """Distinct count of the union of several counters: ``(count, estimated, standard_error)``.

    Each part is ``(exact hashes or None once estimated, HyperLogLog registers of the same
    hashes)``. While every part is exact and the union holds at most ``exact_limit`` hashes,
    the count is the exact size of the union; otherwise it is the estimate of the merged
    registers, reported no lower than ``exact_limit + 1`` as :class:`UniqueCounter` does.
    Never the sum of the parts' counts.
    """
    parts = list(parts)
    union: set[int] | None = set()
    for hashes, _ in parts:
        if hashes is None:
            union = None
            break
        union.update(hashes)
        if len(union) > exact_limit:
            union = None
            break
    if union is not None:
        return len(union), False, 0.0
    if not parts:
        return 0, False, 0.0
    registers = merge_registers(r for _, r in parts)
    estimate = estimate_registers(registers, precision)
    return max(round(estimate), exact_limit + 1), True, 1.04 / math.sqrt(1 << precision)


def _ertl_estimate(histogram: list[int], m: int, q: int) -> float:
    """Ertl's improved raw estimator from the histogram of register values ``0..q+1``."""
    z = m * _tau(1.0 - histogram[q + 1] / m)
    for k in range(q, 0, -1):
        z = 0.5 * (z + histogram[k])
    z += m * _sigma(histogram[0] / m)
    return m * m / (2.0 * math.log(2.0)) / z


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


class UniqueCounter:
    """Counts distinct 64-bit hashes: exactly up to ``exact_limit``, then with a HyperLogLog.

    When the ``exact_limit + 1``-th distinct hash arrives, every remembered hash seeds a
    HyperLogLog and the exact set is dropped, so memory stays bounded. Estimated counts are
    never reported below ``exact_limit + 1``, a number known to have been reached.
    """

    __slots__ = ("_exact", "_exact_limit", "_hll", "_precision")

    def __init__(self, exact_limit: int = DEFAULT_EXACT_UNIQUE_LIMIT, precision: int = 14) -> None:
        if isinstance(exact_limit, bool) or not isinstance(exact_limit, int) or exact_limit < 0:
            raise ValueError(f"exact_limit must be an int >= 0 (got {exact_limit!r})")
        HyperLogLog(precision)  # validates precision
        self._exact_limit = exact_limit
        self._precision = precision
        self._exact: set[int] | None = set()
        self._hll: HyperLogLog | None = None

    @property
    def exact_limit(self) -> int:
        """Distinct values counted exactly before switching to the estimate."""
        return self._exact_limit

    @property
    def estimated(self) -> bool:
        """True once the count is a HyperLogLog estimate."""
        return self._hll is not None

    @property
    def standard_error(self) -> float:
        """Relative standard error of :meth:`count`: 0.0 while exact."""
        return 0.0 if self._hll is None else self._hll.standard_error

    def add(self, h: int) -> None:
        """Add one 64-bit hash."""
        exact = self._exact
        if exact is None:
            self._hll.add(h)
            return
        exact.add(h)
        if len(exact) > self._exact_limit:
            hll = HyperLogLog(self._precision)
            for value in exact:
                hll.add(value)
            self._hll = hll
            self._exact = None

    def count(self) -> int:
        """The number of distinct hashes added (estimated past ``exact_limit``)."""
        if self._hll is None:
            return len(self._exact)
        return max(round(self._hll.estimate()), self._exact_limit + 1)

    def clear(self) -> None:
        """Forget everything and count exactly again."""
        self._exact = set()
        self._hll = None


class SpaceSaving:
    """Metwally et al.'s Space-Saving top-k with ``capacity`` counters.

    A monitored key's increment is one dict update. A new key, when every counter is taken,
    replaces the key with the smallest count ``c`` and starts at ``c + 1`` with error ``c``:
    its true count lies in ``[count - error, count]``. Any key seen more than
    ``total / capacity`` times is monitored, and the counts always sum to the total.

    The smallest count is found with a min-heap holding one ``(count, seq, key)`` entry per
    monitored key (``seq`` breaks ties without comparing strings); entries may be stale
    (lower than the count) and are refreshed when they reach the top, so eviction is
    amortised O(log capacity).
    """

    __slots__ = ("_capacity", "_counts", "_errors", "_evicted", "_heap", "_seq")

    def __init__(self, capacity: int = DEFAULT_TOP_ERRORS_CAPACITY) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1 (got {capacity!r})")
        self._capacity = capacity
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}  # only keys whose error is not 0
        self._heap: list[tuple[int, int, str]] = []
        self._seq = 0
        self._evicted = False

    @property
    def capacity(self) -> int:
        """The number of counters."""
        return self._capacity

    @property
    def exact(self) -> bool:
        """True while no key has been evicted, so every count is exact."""
        return not self._evicted

    def increment(self, key: str) -> None:
        """Count one occurrence of ``key``."""
        counts = self._counts
        if key in counts:
            counts[key] += 1
        else:
            self._add_new(key)

    def _add_new(self, key: str) -> str | None:
        """Start counting ``key``; returns the key it replaced, if any."""
        counts, heap = self._counts, self._heap
        self._seq = seq = self._seq + 1
        if len(counts) < self._capacity:
            counts[key] = 1
            heapq.heappush(heap, (1, seq, key))
            return None
        while True:
            low, _, victim = heap[0]
            actual = counts[victim]
            if actual == low:
                break
            heapq.heapreplace(heap, (actual, seq, victim))
        del counts[victim]
        self._errors.pop(victim, None)
        counts[key] = low + 1
        self._errors[key] = low
        heapq.heapreplace(heap, (low + 1, seq, key))
        self._evicted = True
        return victim

    def floor(self) -> int:
        """The most any key that is not monitored can have occurred: 0 until a key is evicted,
        then the smallest count (a key evicted with count ``c`` was replaced because ``c`` was
        the minimum, and the minimum never decreases)."""
        return min(self._counts.values()) if self._evicted and self._counts else 0

    def state(self) -> tuple[dict[str, int], dict[str, int]]:
        """Copies of the counts and the non-zero errors (cheap enough to take under a lock)."""
        return self._counts.copy(), self._errors.copy()

    def top(self, n: int | None = None) -> list[tuple[str, int, int]]:
        """The ``n`` (default all) largest counters as ``(key, count, error)``, by count then key."""
        return rank_counters(self._counts, self._errors, n)

    def clear(self) -> None:
        """Forget every key."""
        self._counts.clear()
        self._errors.clear()
        self._heap.clear()
        self._seq = 0
        self._evicted = False

    def __len__(self) -> int:
        return len(self._counts)


def merge_space_saving(
    summaries: Iterable[tuple[dict[str, int], dict[str, int], int]], capacity: int
) -> tuple[dict[str, int], dict[str, int], int]:
    """Merge Space-Saving summaries into one of ``capacity`` counters (mergeable summaries,
    Agarwal et al. 2012): returns ``(counts, errors, floor)``.

    A summary is ``(counts, errors, floor)``: ``floor`` bounds the count of any key it does
    not monitor (0 if it never evicted one). A key's merged count adds its count in the
    summaries that monitor it and the floor of those that do not, and so does its error,
    so its true count stays within ``[count - error, count]``; the error is at most the sum
    of the floors, each at most that summary's total / its capacity. The ``capacity``
    largest counts are kept; the merged floor (the bound for a key left out) is the largest
    of the floors' sum and the largest count dropped. With no evictions anywhere and at most
    ``capacity`` keys the merge is exact.
    """
    summaries = list(summaries)
    total_floor = sum(floor for _, _, floor in summaries)
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for part_counts, part_errors, floor in summaries:
        for key, count in part_counts.items():
            if key in counts:
                counts[key] += count - floor
                errors[key] += part_errors.get(key, 0) - floor
            else:
                counts[key] = total_floor + count - floor
                errors[key] = total_floor + part_errors.get(key, 0) - floor
    merged_floor = total_floor
    if len(counts) > capacity:
        ranked = rank_counters(counts, errors)
        kept = ranked[:capacity]
        merged_floor = max(merged_floor, ranked[capacity][1])
        counts = {key: count for key, count, _ in kept}
        errors = {key: error for key, _, error in kept}
    return counts, {key: error for key, error in errors.items() if error}, merged_floor


def rank_counters(
    counts: dict[str, int], errors: dict[str, int], n: int | None = None
) -> list[tuple[str, int, int]]:
    """``(key, count, error)`` of the ``n`` (default all) largest counts, by count desc then key."""
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"the limit must be an int or None, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"the limit must be >= 0 (got {n})")

    def order(item: tuple[str, int]) -> tuple[int, str]:
        return -item[1], item[0]

    if n is None or n >= len(counts):
        ranked = sorted(counts.items(), key=itemgetter(0))
        ranked.sort(key=itemgetter(1), reverse=True)  # stable: equal counts stay in key order
    else:
        ranked = heapq.nsmallest(n, counts.items(), key=order)
    return [(key, count, errors.get(key, 0)) for key, count in ranked]
