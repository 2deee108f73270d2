"""Scrape latency under 200 concurrent clients: the built-in server against baselines in the same run.

Each server runs in its own child process on 127.0.0.1 (so the clients' threads do not share
its GIL) and serves the same provider (a full buffer, a few SQL series). In each round 200
client threads connect and scrape at the same moment; every request's time from connect to
the last byte is recorded, and a request that fails or takes longer than the client timeout
counts as an error. Baselines, measured in the same run with the same clients:

- the same server scraped by one client at a time (the latency floor);
- ``prometheus_client.start_http_server`` serving the same provider's registry (thread per
  connection, the standard library's listen backlog of 5).

Run with ``python bench/serving.py`` (or ``make bench``); prints medians and p99; asserts nothing.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CLIENTS = 200
ROUNDS = 3
SEQUENTIAL = 200
CLIENT_TIMEOUT = 10.0

_SERVER = r"""
import sys
from tracker import MetricsProvider, TrackerConfig, start_http_server
kind = sys.argv[1]
provider = MetricsProvider(TrackerConfig(buffer_capacity=10))
for i in range(40):
    provider.record_error_message(f"Database offline: shard {chr(97 + i % 26)}{chr(97 + i // 26)}")
for query_type in ("select", "insert", "stream_processing"):
    provider.record_sql_query_with_error(query_type, 0.02, False, 10, "Database offline")
if kind == "ours":
    server = start_http_server(provider, 0)
    port = server.port
else:
    import prometheus_client
    server, _thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=provider.registry)
    port = server.server_address[1]
print(port, flush=True)
sys.stdin.read()  # until the parent closes our stdin
"""


def start_server(kind: str) -> tuple[subprocess.Popen[str], int]:
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-c", _SERVER, kind], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=root,
                               env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    line = process.stdout.readline() if process.stdout else ""
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"the {kind} server did not start")
    return process, int(line)


def scrape(port: int) -> float | None:
    """Seconds from connect to the last byte of one scrape, or None when it failed."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or b"velo_error_messages_total" not in body:
            return None
    except OSError:
        return None
    finally:
        connection.close()
    return time.perf_counter() - started


def concurrent_round(port: int) -> list[float | None]:
    results: list[float | None] = [None] * CLIENTS
    barrier = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        barrier.wait()
        results[index] = scrape(port)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(kind: str, concurrent: bool) -> dict[str, float]:
    process, port = start_server(kind)
    try:
        for _ in range(20):  # warm up
            scrape(port)
        if concurrent:
            results: list[float | None] = []
            started = time.perf_counter()
            for _ in range(ROUNDS):
                results.extend(concurrent_round(port))
            elapsed = time.perf_counter() - started
        else:
            started = time.perf_counter()
            results = [scrape(port) for _ in range(SEQUENTIAL)]
            elapsed = time.perf_counter() - started
    finally:
        if process.stdin:
            process.stdin.close()
        process.wait(10)
    ok = [r for r in results if r is not None]
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "p50": statistics.median(ok) if ok else float("nan"),
        "p99": percentile(ok, 0.99) if ok else float("nan"),
        "max": max(ok) if ok else float("nan"),
        "rate": len(ok) / elapsed,
    }


def main() -> int:
    print(f"scrape latency, {CLIENTS} concurrent clients x {ROUNDS} rounds, loopback "
          f"(Python {sys.version.split()[0]}; client timeout {CLIENT_TIMEOUT:g}s)\n")
    rows = [
        ("velo-tracker start_http_server, 200 concurrent", measure("ours", True)),
        ("velo-tracker start_http_server, 1 client at a time", measure("ours", False)),
        ("prometheus_client.start_http_server, 200 concurrent", measure("prometheus_client", True)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  {'requests':>8}  {'errors':>6}  {'p50':>9}  {'p99':>9}  {'max':>9}  {'req/s':>7}")
    for name, r in rows:
        print(f"{name:<{width}}  {r['requests']:>8.0f}  {r['errors']:>6.0f}  {r['p50'] * 1000:>7.1f}ms  "
              f"{r['p99'] * 1000:>7.1f}ms  {r['max'] * 1000:>7.1f}ms  {r['rate']:>7.0f}")
    ours, floor, theirs = (r for _, r in rows)
    burst = CLIENTS * floor["p50"]  # the time to answer the whole burst one request after another
    print(f"\np99 under {CLIENTS} concurrent clients: {ours['p99'] * 1000:.0f} ms, "
          f"{ours['p99'] / burst:.2f}x the time to serve the burst one by one "
          f"({CLIENTS} x {floor['p50'] * 1000:.1f} ms = {burst * 1000:.0f} ms); "
          f"prometheus_client's p99 is {theirs['p99'] / ours['p99']:.1f}x ours, "
          f"{theirs['errors']:.0f} errors against {ours['errors']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
