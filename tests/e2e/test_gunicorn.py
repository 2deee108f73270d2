"""A real gunicorn with 4 workers, scraped by a real Prometheus: one consistent view at every
scrape, a worker killed with SIGKILL and replaced without any total going down.

The service runs tests/e2e/wsgi_app.py with --preload (the master creates the provider
before forking: each worker must still get its own file) and the README's gunicorn.conf.py.
The tests run in order against one service; Prometheus scrapes it throughout.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.workload import KINDS, error_text
from tests.servers import PrometheusClient, alive, child_pids, http, wait_until
from tests.support import PROJECT_ROOT, require_binary
from tracker import TrackerConfig
from tracker.demo.runner import free_port, prometheus_flags
from tracker.normalize import MessageNormalizer

WORKERS = 4
REQUESTS = 200
CONSISTENT_SCRAPES = 50
CLIENT_THREADS = 8
TIMEOUT = 60.0
CONF = Path(__file__).with_name("gunicorn.conf.py")


@dataclass
class Scrape:
    pid: int
    total: float
    unique: float
    buffer: dict[str, float]
    app_requests: float


@dataclass
class Service:
    url: str
    master: subprocess.Popen[bytes]
    directory: Path
    prometheus: PrometheusClient
    made: int = 0  # requests that recorded an error and answered
    failed: int = 0  # requests that got no answer (the killed worker's)
    totals: list[float] = field(default_factory=list)  # every scrape's total, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scrape(self) -> Scrape:
        status, body, headers = get(f"{self.url}/metrics")
        assert status == 200, body[:300]
        values: dict[str, float] = {}
        buffer: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == "velo_buffered_error_occurrences":
                    buffer[sample.labels["message"]] = sample.value
                elif not sample.labels:
                    values[sample.name] = sample.value
        scrape = Scrape(int(headers["X-Worker-Pid"]), values["velo_error_messages_total"],
                        values["velo_unique_error_types"], buffer,
                        values.get("e2e_requests_recorded_total", -1))
        with self.lock:
            self.totals.append(scrape.total)
        return scrape

    def fail(self, n: int) -> int | None:
        """One request that records an error; the answering worker's pid (None: no answer)."""
        try:
            status, body, _ = get(f"{self.url}/fail?n={n}")
        except OSError:
            with self.lock:
                self.failed += 1
            return None
        assert status == 200, body
        with self.lock:
            self.made += 1
        return int(body)

    def workers(self) -> list[int]:
        return [pid for pid in child_pids(self.master.pid) if alive(pid)]


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read(), dict(response.headers)


def start_gunicorn(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "--preload", "-w", str(WORKERS),
               "-b", "127.0.0.1:0", "--graceful-timeout", "5", "tests.e2e.wsgi_app:app"]
    help_text = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    if "--no-control-socket" in help_text:  # gunicorn >= 24 opens a control socket in $HOME
        command.insert(-1, "--no-control-socket")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(PROJECT_ROOT)}
    log = open(directory.parent / "gunicorn.log", "wb")  # noqa: SIM115 - closed with the process
    master = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    log.close()
    log_path = directory.parent / "gunicorn.log"

    def port() -> int | None:
        for line in log_path.read_text(errors="replace").splitlines():
            if "Listening at: http://127.0.0.1:" in line:
                return int(line.split("127.0.0.1:")[1].split()[0])
        assert master.poll() is None, log_path.read_text()
        return None

    return master, wait_until(port, TIMEOUT, lambda: f"gunicorn to listen\n{log_path.read_text()}")


def start_prometheus(workdir: Path, target: str) -> subprocess.Popen[bytes]:
    binary = require_binary("prometheus", "prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: gunicorn\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [binary, *prometheus_flags(str(config), str(workdir / "data"), f"127.0.0.1:{port}")],
        stdout=log, stderr=log,
    )
    log.close()
    process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_binary("prometheus", "prometheus")
    workdir = tmp_path_factory.mktemp("gunicorn")
    directory = workdir / "multiproc"
    directory.mkdir()  # a fresh, empty directory: the life cycle the README prescribes
    master, port = start_gunicorn(directory)
    workers: list[int] = []
    prometheus = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: len([p for p in child_pids(master.pid) if alive(p)]) == WORKERS, TIMEOUT,
                   "gunicorn's workers to boot")
        wait_until(lambda: http("GET", f"{url}/metrics")[0] == 200, TIMEOUT, "gunicorn to answer")
        workers = child_pids(master.pid)
        prometheus = start_prometheus(workdir, f"127.0.0.1:{port}")
        client = PrometheusClient(prometheus.url)  # type: ignore[attr-defined]
        wait_until(lambda: client.scalar('up{job="gunicorn"}') == 1.0, TIMEOUT,
                   lambda: f"Prometheus to scrape\n{(workdir / 'prometheus.log').read_text()[-3000:]}")
        yield Service(url, master, directory, client)
    finally:
        if prometheus is not None:
            stop(prometheus)
        everyone = set(workers) | set(child_pids(master.pid))
        stop(master)
        for pid in everyone:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not any(alive(p) for p in everyone), 20, "gunicorn's workers to exit")


def expected_key(n: int) -> str:
    return MessageNormalizer(TrackerConfig()).normalize(error_text(n))  # type: ignore[return-value]


def test_every_scrape_reports_the_same_merged_totals(service: Service) -> None:
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        pids = list(pool.map(service.fail, range(REQUESTS)))
    assert service.made == REQUESTS and None not in pids
    assert len(set(pids)) >= 2, f"the requests all went to one worker ({set(pids)}): nothing was merged"
    expected_buffer = {expected_key(n): REQUESTS / len(KINDS) for n in range(len(KINDS))}
    with ThreadPoolExecutor(5) as pool:  # concurrent scrapes, so that several workers answer
        scrapes = list(pool.map(lambda _: service.scrape(), range(CONSISTENT_SCRAPES)))
    assert len({s.pid for s in scrapes}) >= 2, "every scrape was answered by the same worker"
    for scrape in scrapes:
        assert scrape.total == REQUESTS
        assert scrape.unique == len(KINDS)
        assert scrape.buffer == expected_buffer
        assert scrape.app_requests == REQUESTS  # prometheus_client's multiprocess metrics, same /metrics


def test_a_worker_killed_with_sigkill_loses_nothing_and_no_total_goes_down(service: Service) -> None:
    before = service.made
    stop_scraping = threading.Event()
    scrape_errors: list[BaseException] = []

    def keep_scraping() -> None:
        while not stop_scraping.is_set():
            try:
                service.scrape()
            except BaseException as exc:  # reported below
                scrape_errors.append(exc)
                return

    scraper = threading.Thread(target=keep_scraping, daemon=True)
    scraper.start()
    victims_before = service.workers()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        first = [pool.submit(service.fail, n) for n in range(REQUESTS)]
        answered = [f.result() for f in first[:20]]  # requests are flowing
        victim = next(pid for pid in answered if pid is not None)
        os.kill(victim, signal.SIGKILL)  # while the other requests keep coming
        for f in first[20:]:
            f.result()
        wait_until(lambda: victim not in service.workers() and len(service.workers()) == WORKERS, TIMEOUT,
                   "gunicorn to replace the killed worker")
        after = list(pool.map(service.fail, range(REQUESTS)))
    stop_scraping.set()
    scraper.join(30)
    assert not scrape_errors, scrape_errors
    # child_exit ran mark_process_dead: the killed worker's files were folded into an archive.
    assert not list(service.directory.glob(f"velo-tracker.velo.*.{victim}.*.mmap"))
    assert list(service.directory.glob("velo-tracker.velo.errors.archive.*.mmap"))
    replaced = set(service.workers()) - set(victims_before)
    assert replaced, "no new worker"
    assert set(after) & replaced, "the new worker did not serve any request"
    totals = service.totals
    assert len(totals) >= 10, "the scraper hardly ran"
    decreases = [(a, b) for a, b in itertools.pairwise(totals) if b < a]
    assert not decreases, f"a scrape reported a lower total than an earlier one: {decreases}"
    final = service.scrape().total
    # Every answered request was recorded; the killed sync worker had at most one request in
    # flight, which may or may not have been recorded before the SIGKILL.
    assert service.made <= final <= service.made + service.failed
    assert service.failed <= 1
    assert service.made - before >= 2 * REQUESTS - 1


def test_prometheus_saw_no_counter_reset(service: Service) -> None:
    final = service.scrape().total
    wait_until(lambda: service.prometheus.scalar("velo_error_messages_total") == final, TIMEOUT,
               "Prometheus to scrape the final total")
    assert service.prometheus.scalar("resets(velo_error_messages_total[10m])") == 0.0
    assert service.prometheus.scalar("max_over_time(velo_error_messages_total[10m])") == final
    assert service.prometheus.scalar("e2e_requests_recorded_total") is not None
    dropped = service.prometheus.query("velo_error_tracking_dropped_total")
    assert {r["metric"]["reason"] for r in dropped} == {"reentrant", "before_record", "internal"}
    assert all(float(r["value"][1]) == 0.0 for r in dropped)
