"""The one module that starts real servers for end-to-end tests, and the clients that talk to them.

Every server listens on an ephemeral loopback port; readiness is polled with a deadline
(never a bare sleep); every process is torn down when its fixture ends, also when a test
fails or the stack fails half-way through starting. Stacks are started by the same
:class:`tracker.demo.runner.DemoStack` that ``velo-tracker demo`` uses, with the test variant
of the bundle configuration from :func:`e2e_config`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support import (  # re-exported: end-to-end tests import these from here
    PROJECT_ROOT,
    SLOW_WAIT,
    get_json,
    http,
    post_json,
    require_binary,
    wait_until,
)
from tracker.bundle.config import BundleConfig, demo_config
from tracker.demo.runner import Binaries, DemoStack, Ports, StackError

T = TypeVar("T")

#: ``for`` of every alert in the end-to-end variant of the rules.
E2E_ALERT_FOR = "2s"
#: Scrape and rule-evaluation interval of the end-to-end Prometheus.
E2E_INTERVAL = "1s"
E2E_INTERVAL_SECONDS = 1.0
START_ATTEMPTS = 3
PROCESS_TIMEOUT = 30.0


def e2e_config(base: BundleConfig | None = None) -> BundleConfig:
    """The bundle configuration with short intervals and alert ``for`` durations, derived from ``base``.

    Only timing changes: rules, queries and addresses come from the same generators as the
    committed bundle (no hand-edited copy).
    """
    config = (base or demo_config()).with_alert_for(E2E_ALERT_FOR)
    return dataclasses.replace(
        config,
        prometheus=dataclasses.replace(
            config.prometheus, scrape_interval=E2E_INTERVAL, evaluation_interval=E2E_INTERVAL
        ),
        alertmanager=dataclasses.replace(config.alertmanager, group_wait="1s", group_interval="1s"),
    )


@dataclass
class PrometheusClient:
    url: str

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        payload = get_json(f"{self.url}/api/v1/{path}?{query}")
        assert payload["status"] == "success", payload
        return payload["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        assert data["resultType"] == "vector", data
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")
        assert data["resultType"] == "matrix", data
        return data["result"]

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The value of a query that returns at most one sample."""
        result = self.query(expr, at)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]

    def firing(self) -> set[str]:
        return {a["labels"]["alertname"] for a in self.alerts() if a["state"] == "firing"}


@dataclass
class RunningStack:
    """A started :class:`DemoStack` and clients for it."""

    stack: DemoStack
    started_at: float
    prometheus: PrometheusClient = field(init=False)

    def __post_init__(self) -> None:
        self.prometheus = PrometheusClient(self.stack.prometheus_url)

    @property
    def config(self) -> BundleConfig:
        return self.stack.config

    @property
    def app_url(self) -> str:
        return self.stack.app_url

    @property
    def alertmanager_url(self) -> str:
        return self.stack.alertmanager_url

    @property
    def instance(self) -> str:
        return self.stack.addresses.demo_app

    def errors(self) -> dict[str, Any]:
        return get_json(f"{self.app_url}/errors")

    def app_post(self, path: str) -> Any:
        return post_json(f"{self.app_url}{path}")

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return get_json(f"{self.alertmanager_url}/api/v2/alerts")

    def logs(self) -> str:
        return "\n".join(f"--- {c.name} ---\n{c.log_tail(40)}" for c in self.stack.children)

    def diagnostics(self, what: str) -> Callable[[], str]:
        """``what``, then the scrape history, the alerts and the logs (for wait_until's reports)."""
        def describe() -> str:
            job = self.config.job
            lines = [what]
            for expr in (f'up{{job="{job}"}}', f'scrape_duration_seconds{{job="{job}"}}', "ALERTS"):
                try:
                    result = self.prometheus.api("query", query=f"{expr}[2m]")  # raw samples
                    lines.append(f"{expr}: {json.dumps(result)[:3000]}")
                except Exception as exc:  # the report goes on without it
                    lines.append(f"{expr}: {exc!r}")
            lines.append(self.logs())
            return "\n".join(lines)

        return describe

    def wait_scraped(self, timeout: float = 30.0) -> None:
        job = self.config.job
        wait_until(lambda: self.prometheus.scalar(f'up{{job="{job}"}}') == 1.0, timeout,
                   self.diagnostics("Prometheus to scrape the demo app"))


# Every stack and process started by this module, for the teardown checks.
STARTED: list[tuple[list[int], list[int]]] = []


def find_binaries() -> Binaries:
    """The real Prometheus and Alertmanager (skip outside CI, fail under CI, when missing)."""
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    return Binaries.find()


@contextlib.contextmanager
def running_stack(
    workdir: Path,
    app_options: Sequence[str] = (),
    config: BundleConfig | None = None,
    binaries: Binaries | None = None,
) -> Iterator[RunningStack]:
    """The demo app, Alertmanager and Prometheus on free loopback ports; stopped on exit, always."""
    binaries = binaries or find_binaries()
    config = config or e2e_config()
    last_error: StackError | None = None
    for attempt in range(1, START_ATTEMPTS + 1):  # a free port can be taken before it is bound
        started_at = time.time()
        stack = DemoStack(config, workdir / f"attempt{attempt}", Ports.free(), binaries, app_options)
        try:
            stack.start(timeout=PROCESS_TIMEOUT)
        except StackError as exc:
            last_error = exc
            continue
        STARTED.append((stack.pids(), [p for _, p in stack.ports.items()]))
        try:
            yield RunningStack(stack, started_at)
        finally:
            stack.stop()
        return
    raise AssertionError(f"the demo stack did not start in {START_ATTEMPTS} attempts: {last_error}")


@contextlib.contextmanager
def running_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningStack]]:
    """Start stacks with ``start(app_options=[...])``; all are stopped when the block ends.

    ``tests/conftest.py`` wraps this in the module-scoped ``stack_factory`` fixture.
    """
    with contextlib.ExitStack() as exits:
        def start(app_options: Sequence[str] = (), config: BundleConfig | None = None) -> RunningStack:
            workdir = tmp_path_factory.mktemp("stack")
            return exits.enter_context(running_stack(workdir, app_options, config))

        yield start


# -- single processes ----------------------------------------------------------------------

class LineReader:
    """Collects a process's output lines in a thread, so reading never blocks past a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first line (already read or coming) matching ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            match = regex.search(line)
            if match:
                return match
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {timeout:.0f}s; got:\n{self.text()}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended before a line matching {pattern!r}; got:\n{self.text()}")
            self.lines.append(line)
            match = regex.search(line)
            if match:
                return match

    def text(self, drain_timeout: float = 0.0) -> str:
        """Everything read so far (waiting up to ``drain_timeout`` for the stream's end)."""
        deadline = time.monotonic() + drain_timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return "".join(self.lines)


@dataclass
class Process:
    """A ``velo-tracker`` command started by a test, with its output readers."""

    popen: subprocess.Popen[str]
    stdout: LineReader
    stderr: LineReader

    @property
    def pid(self) -> int:
        return self.popen.pid

    def send(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float = PROCESS_TIMEOUT) -> int:
        """The exit code; a slow exit is reported as a warning with the process's output."""
        started = time.monotonic()
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the process did not exit in {timeout:.0f}s\n{self.output()}") from None
        elapsed = time.monotonic() - started
        if elapsed > SLOW_WAIT:
            warnings.warn(f"slow exit ({elapsed:.1f}s)\n{self.output()}", stacklevel=2)
        return code

    def output(self) -> str:
        return f"stdout:\n{self.stdout.text(1.0)}\nstderr:\n{self.stderr.text(1.0)}"


@contextlib.contextmanager
def velo_tracker(*args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    """``velo-tracker ARGS`` as a child process; killed (with its children) on exit if still running."""
    popen = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
    )
    process = Process(popen, LineReader(popen.stdout), LineReader(popen.stderr))
    children: set[int] = set()
    STARTED.append(([popen.pid], []))
    try:
        yield process
    finally:
        if popen.poll() is None:
            children.update(child_pids(popen.pid))
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(5)
        for pid in children:  # a runner that failed to clean up must not leak into later tests
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for stream in (popen.stdout, popen.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def demo_app(*options: str) -> Iterator[tuple[Process, str]]:
    """``velo-tracker demo-app`` on a free loopback port; yields the process and its base URL."""
    with velo_tracker("demo-app", "--listen", "127.0.0.1:0", *options) as process:
        match = process.stdout.wait_for(r"listening on (http://\S+)", PROCESS_TIMEOUT)
        url = match.group(1)
        wait_until(lambda: http("GET", f"{url}/healthz")[0] == 200, PROCESS_TIMEOUT, "the demo app")
        yield process, url


# -- process and port checks ---------------------------------------------------------------

def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc``)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def assert_gone(pids: Sequence[int], ports: Sequence[int], timeout: float = 10.0) -> None:
    """Every pid has exited and nothing listens on any of the ports (within ``timeout``)."""
    wait_until(lambda: not any(alive(p) for p in pids), timeout,
               f"processes {list(pids)} to exit (alive: {[p for p in pids if alive(p)]})")
    wait_until(lambda: not any(port_open(p) for p in ports), timeout,
               f"ports {list(ports)} to close (open: {[p for p in ports if port_open(p)]})")
