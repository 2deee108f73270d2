"""A real Celery prefork worker with 2 processes: tasks fail in both, and one merged view.

The broker is kombu's filesystem transport (no broker service); the tracker's state goes to
PROMETHEUS_MULTIPROC_DIR, read back here by a provider in the test process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import celery
import pytest

from tests.e2e.workload import KINDS, error_text
from tests.servers import alive, child_pids, wait_until
from tests.support import PROJECT_ROOT
from tracker import MetricsProvider, TrackerConfig
from tracker.multiprocess import process_totals

TASKS = 40
TIMEOUT = 90.0



@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    broker, state = tmp_path / "broker", tmp_path / "multiproc"
    broker.mkdir()
    state.mkdir()
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(state), "VELO_E2E_BROKER_DIR": str(broker),
           "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "celery", "-A", "tests.e2e.celery_app", "worker", "--pool=prefork",
               "--concurrency=2", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
               "--without-mingle", "-n", f"velo-e2e-{os.getpid()}@localhost"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    children: set[int] = set()
    try:
        def ready() -> bool:
            assert process.poll() is None, log_path.read_text()
            return "ready." in log_path.read_text(errors="replace")

        wait_until(ready, TIMEOUT, lambda: f"the Celery worker to start\n{log_path.read_text()}")
        children.update(child_pids(process.pid))
        yield broker, state, process
    finally:
        children.update(child_pids(process.pid))
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not any(alive(p) for p in children), 20, "the pool processes to exit")


def test_tasks_failing_in_both_pool_processes_make_one_merged_view(
    worker: tuple[Path, Path, subprocess.Popen[bytes]],
) -> None:
    broker, state, process = worker
    client = celery.Celery("velo_e2e_client", broker="filesystem://")
    client.conf.broker_transport_options = {"data_folder_in": str(broker), "data_folder_out": str(broker),
                                            "control_folder": str(broker / "control")}
    for n in range(TASKS):
        client.send_task("velo_e2e.fail", args=[n])
    assert not (PROJECT_ROOT / "control").exists()  # the broker writes only in its own directory
    view = MetricsProvider(TrackerConfig(multiprocess_dir=state))
    wait_until(lambda: view.get_total_errors() == TASKS, TIMEOUT,
               lambda: f"{TASKS} failed tasks (have {view.get_total_errors()}: {process_totals(state)})")
    pool = set(child_pids(process.pid))
    per_process = {pid: n for pid, n in process_totals(state).items() if n}
    assert len(per_process) == 2 and set(per_process) <= pool, (per_process, pool)  # both pool processes
    assert sum(per_process.values()) == TASKS
    reference = MetricsProvider(TrackerConfig(multiprocess_dir=""))
    for n in range(TASKS):
        reference.record_error_message(RuntimeError(error_text(n)))
    stats, expected = view.get_error_stats(), reference.get_error_stats()
    assert stats.unique_errors == expected.unique_errors == len(KINDS)
    assert stats.top_errors == expected.top_errors
    assert {e.message: e.count for e in stats.entries} == {e.message: e.count for e in expected.entries}
    assert "velo_error_messages_total 40.0" in view.get_metrics_text()
