"""Multi-process mode: the recording path against prometheus_client's own multiprocess counter,
first-seen errors, and one scrape merging eight workers' full state.

Run alone with ``python bench/multiprocess.py`` or through ``bench/run.py``. Each measurement
runs in a child interpreter whose ``PROMETHEUS_MULTIPROC_DIR`` is set before
``prometheus_client`` is imported (it chooses its value class at import). Nothing here
asserts time.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 7
WORKERS = 8
ROOT = Path(__file__).resolve().parent.parent


def _median_ns(run, calls: int, repeats: int = REPEATS) -> float:
    samples = []
    for _ in range(repeats):
        gc.disable()
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / calls)
        gc.enable()
    return statistics.median(samples)


def measure() -> dict[str, float]:
    """Runs in the child, with PROMETHEUS_MULTIPROC_DIR already set."""
    from prometheus_client import CollectorRegistry, Counter

    from tracker import MetricsProvider, TrackerConfig

    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    results: dict[str, float] = {}
    message = "Connection timeout after 31ms to 10.0.0.7"
    provider = MetricsProvider(TrackerConfig())
    counter = Counter("baseline_errors", "baseline", ["message"], registry=CollectorRegistry())
    record, labels = provider.record_error_message, counter.labels
    calls = 100_000

    def ours() -> None:
        for _ in range(calls):
            record(message)

    def baseline() -> None:
        for _ in range(calls):
            labels(message).inc()

    # Interleaved, so that both see the same load on a shared machine.
    ours_ns, baseline_ns = [], []
    for _ in range(REPEATS):
        ours_ns.append(_median_ns(ours, calls, repeats=1))
        baseline_ns.append(_median_ns(baseline, calls, repeats=1))
    results["repeated_ns"] = statistics.median(ours_ns)
    results["baseline_ns"] = statistics.median(baseline_ns)
    assert provider.get_total_errors() == calls * REPEATS

    # First-seen: distinct 200-character messages, each new to the buffer, the sketches and the cache.
    import random
    import string

    rng = random.Random(1)
    samples = []
    for _ in range(REPEATS):
        fresh = MetricsProvider(TrackerConfig())
        messages = [" ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(25))
                    for _ in range(5_000)]
        gc.disable()
        start = time.perf_counter_ns()
        for text in messages:
            fresh.record_error_message(text)
        samples.append((time.perf_counter_ns() - start) / len(messages))
        gc.enable()
    results["first_seen_ns"] = statistics.median(samples)

    # Eight workers' full state: buffers full, top-errors summaries full and evicting, unique
    # sketches past the exact cap. (One provider per worker file; only the files matter.)
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    workers = [MetricsProvider(TrackerConfig()) for _ in range(WORKERS)]
    for w, worker in enumerate(workers):
        tracker = worker._tracker
        for i in range(12_000):
            tracker.record(f"worker {w} failure kind {i}")
        for i in range(2_000):
            tracker.record(f"shared failure kind {i % 1_500}")
        for q in range(5):
            worker.record_sql_query_with_error(f"query {q}", 0.003 * q, q % 3 != 0, q)
    scrape = workers[0].get_metrics_text
    scrape()  # maps the files once, as a long-running worker has
    results["scrape_8_ns"] = _median_ns(lambda: [scrape() for _ in range(20)], 20)
    tracker, sql = workers[0]._tracker, workers[0]._sql
    results["merge_8_ns"] = _median_ns(
        lambda: [(tracker.snapshot(include_top=False), sql.snapshot()) for _ in range(20)], 20)
    results["full_merge_8_ns"] = _median_ns(lambda: [tracker.snapshot() for _ in range(5)], 5)
    stats = workers[0].get_error_stats()
    results["scrape_total"] = stats.total_errors
    results["scrape_unique"] = stats.unique_errors
    return results


def run() -> dict[str, float]:
    directory = tempfile.mkdtemp(prefix="velo-bench-")
    try:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                             capture_output=True, text=True, timeout=600).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def rows() -> list[tuple[str, str, str, str]]:
    r = run()
    return [
        ("multi-process: repeated message", f"{r['repeated_ns'] / 1000:.2f} µs",
         f"{r['repeated_ns'] / r['baseline_ns']:.2f}x prometheus_client multiprocess "
         f"Counter.labels(msg).inc() ({r['baseline_ns'] / 1000:.2f} µs)", "<= 0.5x"),
        ("multi-process: first-seen 200-char message", f"{r['first_seen_ns'] / 1000:.2f} µs", "", "< 25 µs"),
        (f"multi-process: one scrape merging {WORKERS} full workers", f"{r['scrape_8_ns'] / 1e6:.2f} ms",
         f"(merge alone {r['merge_8_ns'] / 1e6:.2f} ms; total {r['scrape_total']:.0f}, "
         f"unique ~{r['scrape_unique']:.0f})", "< 5 ms"),
        (f"multi-process: get_error_stats() with all top errors, {WORKERS} workers",
         f"{r['full_merge_8_ns'] / 1e6:.2f} ms", "(8 x 1,000 Space-Saving counters merged)", ""),
    ]


def main() -> int:
    width = 0
    table = rows()
    width = max(len(row[0]) for row in table)
    for name, value, ratio, goal in table:
        print(f"{name:<{width}}  {value:>10}  {ratio:<70} goal {goal}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(measure()))
        sys.exit(0)
    sys.exit(main())
