"""``velo-tracker demo``: the demo app, Prometheus and Alertmanager as local processes on loopback.

For machines without Docker. The configuration is rendered by the bundle's own functions
(:func:`~tracker.bundle.provisioning.prometheus_config`,
:func:`~tracker.bundle.provisioning.alertmanager_config`,
:func:`~tracker.bundle.rules.render_rules`) with loopback
:class:`~tracker.bundle.provisioning.StackAddresses`, so it is the compose stack's configuration
with only the addresses changed. The command-line flags of Prometheus and Alertmanager are
defined here once (:func:`prometheus_flags`, :func:`alertmanager_flags`); ``docker-compose.yml``
passes the same ones, which ``tests/test_compose.py`` checks.

:class:`DemoStack` starts the children in their own sessions (a terminal's Ctrl-C reaches only
the runner, which stops them in order), waits for each to be ready with a deadline, and
stops them all (SIGTERM, a deadline, then SIGKILL) on exit, on a signal, or when one dies.
On Linux each child also gets SIGTERM if the runner itself is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tracker.bundle.config import BundleConfig
from tracker.bundle.provisioning import (
    StackAddresses,
    render_alertmanager_config,
    render_prometheus_config,
)
from tracker.bundle.rules import RULES_FILE, render_rules

LOOPBACK = "127.0.0.1"
DEFAULT_APP_PORT = 8000
DEFAULT_PROMETHEUS_PORT = 9090
DEFAULT_ALERTMANAGER_PORT = 9093

PROMETHEUS_BINARIES = ("prometheus",)
#: Debian names the binary ``prometheus-alertmanager``; upstream releases name it ``alertmanager``.
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
INSTALL_COMMAND = "apt-get install prometheus prometheus-alertmanager"

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
HEALTH_PATH = "/healthz"
READY_PATH = "/-/ready"


class StackError(RuntimeError):
    """The stack could not start, or a process of it stopped."""


class MissingBinaryError(StackError):
    """A binary the native stack needs is not installed."""

    def __init__(self, names: Sequence[str], package: str) -> None:
        self.names = tuple(names)
        self.package = package
        shown = " or ".join(f"'{n}'" for n in self.names)
        super().__init__(
            f"{shown} was not found on PATH: the native demo needs Prometheus and Alertmanager.\n"
            f"Install them (Debian/Ubuntu; '{self.names[0]}' is in the '{package}' package):\n"
            f"    sudo {INSTALL_COMMAND}\n"
            "or, on a machine with Docker, run the whole stack (Grafana included) with: docker compose up"
        )


def find_binary(names: Sequence[str], package: str, path: str | None = None) -> str:
    """The first of ``names`` found on ``path`` (default ``$PATH``), else :class:`MissingBinaryError`."""
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    raise MissingBinaryError(names, package)


@dataclass(frozen=True)
class Binaries:
    prometheus: str
    alertmanager: str

    @classmethod
    def find(cls, path: str | None = None) -> Binaries:
        return cls(
            prometheus=find_binary(PROMETHEUS_BINARIES, "prometheus", path),
            alertmanager=find_binary(ALERTMANAGER_BINARIES, "prometheus-alertmanager", path),
        )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class Ports:
    app: int = DEFAULT_APP_PORT
    prometheus: int = DEFAULT_PROMETHEUS_PORT
    alertmanager: int = DEFAULT_ALERTMANAGER_PORT

    @classmethod
    def free(cls) -> Ports:
        """Three distinct free loopback ports."""
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(3):  # held open together, so the three differ
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((LOOPBACK, 0))
                ports.append(sock.getsockname()[1])
        return cls(*ports)

    def busy(self) -> list[tuple[str, int]]:
        return [(name, port) for name, port in self.items() if port_in_use(port)]

    def items(self) -> list[tuple[str, int]]:
        return [("demo app", self.app), ("Prometheus", self.prometheus), ("Alertmanager", self.alertmanager)]


# -- the command lines, defined once (docker-compose.yml passes the same flags) -------------

def prometheus_flags(config_file: str, data_dir: str, listen_address: str) -> list[str]:
    return [
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={listen_address}",
    ]


def alertmanager_flags(config_file: str, data_dir: str, listen_address: str) -> list[str]:
    return [
        f"--config.file={config_file}",
        f"--storage.path={data_dir}",
        f"--web.listen-address={listen_address}",
        "--cluster.listen-address=",  # a single instance: no gossip port
    ]


def demo_app_command(listen_address: str, options: Sequence[str] = ()) -> list[str]:
    """The demo app as a child process: this interpreter running ``velo-tracker demo-app``."""
    return [sys.executable, "-m", "tracker.cli", "demo-app", "--listen", listen_address, *options]


# -- child processes ---------------------------------------------------------------------

def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved in the parent: between fork and exec the child only calls it.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class Child:
    """One process of the stack, its output in a log file."""

    def __init__(self, name: str, command: list[str], log_path: Path, ready_url: str) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.ready_url = ready_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if _PRCTL is not None else None,
                    env=env,
                )
        except OSError as exc:
            raise StackError(f"cannot start {self.name} ({self.command[0]}): {exc}") from exc

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)  # its own session: the group is the child's

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, deadline: float, abort: Callable[[], bool]) -> None:
        """Poll ``ready_url`` until it answers 200; fail if the process exits or time runs out."""
        last_error = "no answer yet"
        while True:
            if abort():
                raise StackError(f"stopped while waiting for {self.name} to be ready")
            code = self.exit_code()
            if code is not None:
                raise StackError(
                    f"{self.name} exited with code {code} while starting "
                    f"(log: {self.log_path}):\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(getattr(exc, "reason", exc))
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{self.name} was not ready at {self.ready_url} in time ({last_error}; "
                    f"log: {self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.1)  # poll interval, bounded by the deadline above


def stop_children(
    children: Sequence[Child], timeout: float = STOP_TIMEOUT, err: TextIO | None = None
) -> None:
    """SIGTERM every running child, wait for all until ``timeout``, then SIGKILL the rest."""
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if err is not None:
                print(f"velo-tracker demo: {child.name} did not stop within {timeout:.0f}s; killing it.",
                      file=err, flush=True)
            child.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)


# -- the stack ---------------------------------------------------------------------------

class DemoStack:
    """The demo app, Alertmanager and Prometheus on loopback, configured from ``config``.

    Use as a context manager: leaving it (normally or by an exception) stops every process.
    """

    def __init__(
        self,
        config: BundleConfig,
        workdir: Path,
        ports: Ports,
        binaries: Binaries,
        app_options: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.workdir = Path(workdir)
        self.ports = ports
        self.binaries = binaries
        self.app_options = list(app_options)
        self.env = env
        self.rules_dir = self.workdir / "rules"
        self.addresses = StackAddresses.loopback(ports.app, ports.alertmanager, str(self.rules_dir))
        self.children: list[Child] = []

    # URLs (loopback) --------------------------------------------------------------------
    @property
    def app_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.app}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.alertmanager}"

    def write_files(self) -> dict[str, Path]:
        """Render the rule file and the Prometheus and Alertmanager configurations into ``workdir``."""
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        files = {
            "rules": self.rules_dir / RULES_FILE,
            "prometheus": self.workdir / "prometheus.yml",
            "alertmanager": self.workdir / "alertmanager.yml",
        }
        files["rules"].write_text(render_rules(self.config), encoding="utf-8")
        files["prometheus"].write_text(
            render_prometheus_config(self.config, self.addresses), encoding="utf-8"
        )
        files["alertmanager"].write_text(
            render_alertmanager_config(self.config, self.addresses), encoding="utf-8"
        )
        return files

    def _children(self, files: dict[str, Path]) -> list[Child]:
        work = self.workdir
        app_options = [
            "--namespace", self.config.namespace,
            "--buffer-capacity", str(self.config.buffer_capacity),
            *self.app_options,
        ]
        return [
            Child(
                "demo app",
                demo_app_command(f"{LOOPBACK}:{self.ports.app}", app_options),
                work / "demo-app.log",
                self.app_url + HEALTH_PATH,
            ),
            Child(
                "Alertmanager",
                [self.binaries.alertmanager, *alertmanager_flags(
                    str(files["alertmanager"]), str(work / "alertmanager-data"),
                    f"{LOOPBACK}:{self.ports.alertmanager}",
                )],
                work / "alertmanager.log",
                self.alertmanager_url + READY_PATH,
            ),
            Child(
                "Prometheus",
                [self.binaries.prometheus, *prometheus_flags(
                    str(files["prometheus"]), str(work / "prometheus-data"),
                    f"{LOOPBACK}:{self.ports.prometheus}",
                )],
                work / "prometheus.log",
                self.prometheus_url + READY_PATH,
            ),
        ]

    def start(self, timeout: float = READY_TIMEOUT, abort: Callable[[], bool] = lambda: False) -> None:
        """Write the files, start each process in order and wait until each is ready.

        On any failure every process already started is stopped before the error propagates.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        files = self.write_files()
        deadline = time.monotonic() + timeout
        try:
            for child in self._children(files):
                self.children.append(child)
                child.start(self.env)
                child.wait_ready(deadline, abort)
        except BaseException:
            self.stop()
            raise

    def dead_child(self) -> Child | None:
        """A child that has exited, if any."""
        return next((c for c in self.children if not c.running()), None)

    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c.pid is not None]

    def stop(self, timeout: float = STOP_TIMEOUT, err: TextIO | None = None) -> None:
        """Stop every process (Prometheus first, the app last)."""
        stop_children(list(reversed(self.children)), timeout, err)

    def __enter__(self) -> DemoStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the command -------------------------------------------------------------------------

@dataclass
class RunOptions:
    config: BundleConfig
    ports: Ports | None
    """``None``: free ports chosen at start."""
    app_options: list[str]
    workdir: Path | None = None
    """Keep configs, data and logs here; ``None``: a temporary folder removed on exit."""
    dashboard_file: Path | None = None
    """The generated dashboard to suggest importing, when it is at hand."""


def _print_banner(stack: DemoStack, workdir: Path, opts: RunOptions, out: TextIO) -> None:
    dashboard = (
        str(opts.dashboard_file) if opts.dashboard_file
        else "the dashboard that `velo-tracker generate --out DIR` writes to DIR/dashboards/"
    )
    kept = "kept" if opts.workdir else "removed on exit"
    app_pid = stack.children[0].pid
    print(
        "velo-tracker demo: running. Ctrl-C (or SIGTERM) stops everything.\n"
        f"  Demo app      {stack.app_url}/\n"
        f"  Prometheus    {stack.prometheus_url}/\n"
        f"  Alertmanager  {stack.alertmanager_url}/\n"
        f"  Files         {workdir}  (configurations, data and logs; {kept})\n"
        "\n"
        "What to do next:\n"
        f"  - Watch the metrics: {stack.app_url}/metrics, the buffered errors: {stack.app_url}/errors\n"
        f"    Prometheus' targets and alerts: {stack.prometheus_url}/targets, {stack.prometheus_url}/alerts\n"
        f"  - Grafana is not started natively: in an existing Grafana, add a Prometheus data source for\n"
        f"    {stack.prometheus_url} and import {dashboard} (Dashboards > New > Import).\n"
        f"  - Trigger an error storm so the alerts fire: "
        f"curl -X POST -H 'Content-Type: application/json' {stack.app_url}/storm\n"
        f"    (or: kill -USR1 {app_pid}). Alerts need their 'for' duration (start with --alert-for 15s\n"
        f"    to shorten it), then show in Alertmanager and in {stack.app_url}/alerts (the webhook).\n"
        f"  - Reset error tracking (Prometheus sees a counter reset): "
        f"curl -X POST -H 'Content-Type: application/json' {stack.app_url}/reset",
        file=out,
        flush=True,
    )


def run(opts: RunOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
        binaries: Binaries | None = None) -> int:
    """Run the native stack until a signal or a child's death; return the exit code."""
    try:
        binaries = binaries or Binaries.find()
    except MissingBinaryError as exc:
        print(f"velo-tracker demo: {exc}", file=err, flush=True)
        return 2
    if opts.ports is not None:
        busy = opts.ports.busy()
        if busy:
            shown = ", ".join(f"{port} ({name})" for name, port in busy)
            print(f"velo-tracker demo: port(s) already in use on {LOOPBACK}: {shown}. Stop what uses them, "
                  "choose others (--app-port, --prometheus-port, --alertmanager-port) or use --free-ports.",
                  file=err, flush=True)
            return 2

    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="velo-demo-"))
    stack: DemoStack | None = None
    try:
        attempts = 3 if opts.ports is None else 1  # a free port may be taken before it is bound
        for attempt in range(1, attempts + 1):
            ports = opts.ports or Ports.free()
            stack_dir = workdir if attempt == 1 else workdir / f"retry{attempt}"
            stack = DemoStack(opts.config, stack_dir, ports, binaries, opts.app_options)
            try:
                stack.start(abort=stop.is_set)
                break
            except StackError as exc:
                if stop.is_set():
                    print("velo-tracker demo: stopped while starting.", file=err, flush=True)
                    return 0
                if attempt == attempts:
                    print(f"velo-tracker demo: {exc}", file=err, flush=True)
                    return 1
                print(f"velo-tracker demo: retrying on other free ports after: {exc}", file=err, flush=True)
        assert stack is not None
        _print_banner(stack, workdir, opts, out)
        while not stop.wait(0.5):
            dead = stack.dead_child()
            if dead is not None:
                print(f"velo-tracker demo: {dead.name} exited with code {dead.exit_code()}; "
                      f"stopping the rest.\n{dead.log_tail()}", file=err, flush=True)
                return 1
        print("velo-tracker demo: stopping.", file=out, flush=True)
        return 0
    finally:
        if stack is not None:
            stack.stop(err=err)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if opts.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
