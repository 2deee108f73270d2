"""Benchmark of the text pipeline (scrub, fold, fingerprint) for first-seen and repeated messages.

Run with ``python bench/text.py`` (also part of ``make bench``). Prints medians and ratios against
baselines measured in the same run; nothing here asserts time.
"""

from __future__ import annotations

import gc
import random
import statistics
import string
import sys
import time

from tracker import MetricsProvider

REPEATS = 7


def words(rng: random.Random, length: int) -> str:
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < length:
        out.append("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))))
    return " ".join(out)[:length]


def token_heavy(rng: random.Random, i: int) -> str:
    """About 200 characters: an ip, a uuid, a duration, a quoted value, password=, a URL with a query."""
    a, b, c, d, e = (rng.getrandbits(bits) for bits in (32, 16, 12, 12, 48))
    uid = f"{a:08x}-{b:04x}-4{c:03x}-a{d:03x}-{e:012x}"
    return (
        f"Query {i} failed from 10.{i % 250}.{rng.randint(0, 250)}.7 for user {uid} "
        f"after {rng.randint(1, 999)}ms: "
        f"name='{words(rng, 6)}' password=hunter{i} GET https://api.example.com/v2/items?page={i}&sig=ab{i}cd"
    )[:220]


def median_us_per_message(process, make_messages, calls: int) -> float:
    """Median over REPEATS fresh batches of the time per message, in microseconds."""
    samples = []
    for repeat in range(REPEATS):
        messages = make_messages(repeat)
        gc.disable()
        start = time.perf_counter_ns()
        for message in messages:
            process(message)
        samples.append((time.perf_counter_ns() - start) / len(messages) / 1000)
        gc.enable()
    return statistics.median(samples)


def first_seen(make_message, calls: int = 5_000) -> float:
    """Each message recorded once, by a provider that has not seen it (no cache hit)."""
    samples = []
    for repeat in range(REPEATS):
        rng = random.Random(repeat)
        provider = MetricsProvider()
        record = provider.record_error_message
        messages = [make_message(rng, i) for i in range(calls)]
        gc.disable()
        start = time.perf_counter_ns()
        for message in messages:
            record(message)
        samples.append((time.perf_counter_ns() - start) / calls / 1000)
        gc.enable()
    return statistics.median(samples)


def repeated(calls: int = 100_000) -> tuple[float, int]:
    provider = MetricsProvider()
    message = token_heavy(random.Random(1), 1)
    record = provider.record_error_message
    record(message)
    normalizer = provider._normalizer  # the cache is what makes a repeat cheap
    cached_before = normalizer.cached_count
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            record(message)
        samples.append((time.perf_counter_ns() - start) / calls / 1000)
    return statistics.median(samples), normalizer.cached_count - cached_before


ADVERSARIAL_UNITS = (
    '"\\',
    "='\\",
    "1.",
    "1:",
    "::",
    "a1",
    "@a.",
    "http://",
    "password=",
    "--password ",
    "Authorization: ",
    "eyJ",
    "ghp_",
    "4111 ",
    "Jan 1, ",
    "-----BEGIN PRIVATE KEY-----",
    "DB_PASSWORD",
    "?sig=",
)


def adversarial_ratio() -> tuple[float, float, str]:
    """Cost of recording the worst 4 KB adversarial message over a benign 4 KB one.

    Messages over 1,024 characters are never cached, so every record is a first-seen cost.
    """
    provider = MetricsProvider()
    record = provider.record_error_message
    benign = words(random.Random(7), 4096)
    base = median_us_per_message(record, lambda r: [benign] * 20, 20)
    worst, worst_unit = 0.0, ""
    for unit in ADVERSARIAL_UNITS:
        text = (unit * (4096 // len(unit) + 1))[:4096]
        cost = median_us_per_message(record, lambda r, text=text: [text] * 5, 5)
        if cost > worst:
            worst, worst_unit = cost, unit
    return worst / base, base, worst_unit


def main() -> int:
    print(f"velo-tracker text pipeline (Python {sys.version.split()[0]}, median of {REPEATS} runs)\n")
    rows = []
    benign = first_seen(lambda rng, i: words(rng, 200))
    rows.append(("first-seen 200-char message", f"{benign:.2f} µs", "", "< 15 µs"))
    heavy = first_seen(token_heavy)
    rows.append(("first-seen token-heavy message", f"{heavy:.2f} µs", "", "< 20 µs"))
    hit, grew = repeated()
    rows.append(
        (
            "repeated token-heavy message",
            f"{hit:.2f} µs",
            f"{heavy / hit:.0f}x cheaper than first seen; cache grew by {grew}",
            "a cache hit",
        )
    )
    ratio, base, unit = adversarial_ratio()
    rows.append(
        (
            "adversarial first-seen 4 KB message",
            f"{ratio:.1f}x",
            f"worst unit {unit!r}; benign 4 KB costs {base:.0f} µs",
            "<= 20x benign",
        )
    )
    width = max(len(r[0]) for r in rows)
    for name, value, ratio_text, goal in rows:
        print(f"{name:<{width}}  {value:>10}  {ratio_text:<52} goal {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
