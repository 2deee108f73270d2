"""Benchmarks of the recording and scrape paths, each against a baseline measured in the same run.

Run with ``make bench``. Prints medians and ratios; nothing here asserts time.
"""

from __future__ import annotations

import gc
import random
import statistics
import string
import sys
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from tracker import MetricsProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))
import multiprocess as bench_multiprocess  # bench/multiprocess.py

REPEATS = 7


def median_ns_per_call(run_batch, calls: int) -> float:
    """Median over REPEATS batches of the time per call, in nanoseconds."""
    samples = []
    for _ in range(REPEATS):
        gc.disable()
        start = time.perf_counter_ns()
        run_batch()
        samples.append((time.perf_counter_ns() - start) / calls)
        gc.enable()
    return statistics.median(samples)


def bench_repeated(calls: int = 200_000) -> tuple[float, float]:
    message = "Connection timeout after 31ms to 10.0.0.7"
    provider = MetricsProvider()
    counter = Counter("baseline_errors", "baseline", ["message"], registry=CollectorRegistry())
    record = provider.record_error_message
    labels = counter.labels

    def ours() -> None:
        for _ in range(calls):
            record(message)

    def baseline() -> None:
        for _ in range(calls):
            labels(message).inc()

    return median_ns_per_call(ours, calls), median_ns_per_call(baseline, calls)


def random_message(rng: random.Random, length: int = 200) -> str:
    words = []
    while sum(len(w) + 1 for w in words) < length:
        words.append("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))))
    return " ".join(words)[:length]


def bench_first_seen(calls: int = 20_000) -> float:
    rng = random.Random(1)
    samples = []
    for _ in range(REPEATS):
        provider = MetricsProvider()
        messages = [random_message(rng) for _ in range(calls)]
        record = provider.record_error_message
        gc.disable()
        start = time.perf_counter_ns()
        for message in messages:
            record(message)
        samples.append((time.perf_counter_ns() - start) / calls)
        gc.enable()
    return statistics.median(samples)


def bench_scrape(calls: int = 2_000) -> float:
    provider = MetricsProvider()
    for i in range(15):
        provider.record_error_message(f"error type {string.ascii_letters[i]} in stage")
    for query_type in ("select", "insert", "stream_processing"):
        provider.record_sql_query_with_error(query_type, 0.02, False, 10, "Database offline")
    text = provider.get_metrics_text

    def scrape() -> None:
        for _ in range(calls):
            text()

    return median_ns_per_call(scrape, calls)


def bench_threads(threads: int = 8, per_thread: int = 50_000) -> tuple[float, float]:
    """Records per second with ``threads`` threads together, and with one thread doing the same work."""
    messages = [f"Database offline: shard {s}" for s in "abcdefgh"]

    def run(n_threads: int) -> float:
        provider = MetricsProvider()
        total = n_threads * per_thread
        work = per_thread

        def worker(index: int) -> None:
            record, message = provider.record_error_message, messages[index % len(messages)]
            for _ in range(work):
                record(message)

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - start
        assert provider.get_total_errors() == total
        return total / elapsed

    together = statistics.median(run(threads) for _ in range(3))
    alone = statistics.median(run(1) for _ in range(3))
    return together, alone


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def letters(i: int) -> str:
    """``i`` written in base 26 with letters, so fingerprinting keeps every message distinct."""
    out = []
    while True:
        i, digit = divmod(i, 26)
        out.append(string.ascii_lowercase[digit])
        if i == 0:
            return "".join(out)


def bench_memory(distinct: int = 1_000_000) -> float:
    gc.collect()
    before = rss_bytes()
    provider = MetricsProvider()
    record = provider.record_error_message
    for i in range(distinct):
        record(f"failure kind {letters(i)}")
    gc.collect()
    grew = rss_bytes() - before
    assert provider.get_total_errors() == distinct
    return grew / 1e6


def main() -> int:
    print(f"velo-tracker benchmarks (Python {sys.version.split()[0]}, median of {REPEATS} runs)\n")
    rows = []
    # Memory first, before the other benchmarks have grown the heap.
    grew = bench_memory() if sys.platform.startswith("linux") else None
    ours, baseline = bench_repeated()
    rows.append(("repeated message, record_error_message", f"{ours / 1000:.2f} µs",
                 f"{ours / baseline:.2f}x Counter.labels(msg).inc() ({baseline / 1000:.2f} µs)", "<= 0.8x"))
    first = bench_first_seen()
    rows.append(("first-seen 200-char message", f"{first / 1000:.2f} µs", "", "< 15 µs"))
    scrape = bench_scrape()
    rows.append(("one scrape, default provider (full buffer)", f"{scrape / 1000:.1f} µs", "", "< 500 µs"))
    together, alone = bench_threads()
    rows.append(("8 threads recording together", f"{together / 1e6:.2f} M/s",
                 f"{together / alone:.2f}x one thread ({alone / 1e6:.2f} M/s)", ">= 0.8x"))
    rows.extend(bench_multiprocess.rows())
    if grew is not None:
        rows.append(("RSS growth after 1,000,000 distinct messages", f"{grew:.1f} MB", "", "< 10 MB"))
    width = max(len(r[0]) for r in rows)
    for name, value, ratio, goal in rows:
        print(f"{name:<{width}}  {value:>10}  {ratio:<50} goal {goal}")
    print()
    import serving  # bench/serving.py: scrape latency under 200 concurrent clients
    serving.main()
    print()
    import text  # bench/text.py: the text pipeline (scrub, fingerprint) on first-seen messages

    return text.main()


if __name__ == "__main__":
    sys.exit(main())
