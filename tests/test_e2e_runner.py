"""End to end: ``velo-tracker demo`` as a user runs it — free ports, printed URLs, Prometheus scraping
the app, and no process left behind after SIGTERM, Ctrl-C, or a child's early death."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from tests.servers import (
    PrometheusClient,
    assert_gone,
    child_pids,
    find_binaries,
    get_json,
    velo_tracker,
    wait_until,
)

URL_LINE = r"^\s+{}\s+(http://127\.0\.0\.1:(\d+))/\s*$"


@pytest.fixture
def fast_config(tmp_path):
    """A bundle configuration file with a 1s scrape interval, as a user would pass with --config."""
    path = tmp_path / "bundle.yml"
    path.write_text(yaml.safe_dump({"prometheus": {"scrape_interval": "1s", "evaluation_interval": "1s"}}))
    return path


def start_and_read_urls(process):
    urls = {}
    for name in ("Demo app", "Prometheus", "Alertmanager"):
        match = process.stdout.wait_for(URL_LINE.format(name), 90)
        urls[name] = (match.group(1), int(match.group(2)))
    files = process.stdout.wait_for(r"^\s+Files\s+(\S+)", 5).group(1)
    return urls, Path(files)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runner_starts_the_stack_and_stops_everything_on_a_signal(fast_config, sig):
    find_binaries()
    with velo_tracker("demo", "--free-ports", "--config", str(fast_config), "--seed", "5") as runner:
        urls, workdir = start_and_read_urls(runner)
        assert workdir.is_dir()
        text = runner.stdout.text()
        assert "dashboards/velostream-error-tracking.json" in text  # what to import into Grafana
        assert "/storm" in text
        children = child_pids(runner.pid)
        assert len(children) == 3, children

        app_url, prometheus_url = urls["Demo app"][0], urls["Prometheus"][0]
        prom = PrometheusClient(prometheus_url)
        wait_until(lambda: prom.scalar('up{job="velostream"}') == 1.0, 30,
                   f"Prometheus to scrape the app\n{runner.output()}")
        targets = prom.api("targets")["activeTargets"]
        assert targets[0]["labels"]["instance"] == f"127.0.0.1:{urls['Demo app'][1]}"
        assert get_json(f"{app_url}/")["service"].startswith("velo-tracker demo")
        assert get_json(f"{urls['Alertmanager'][0]}/api/v2/status")["cluster"]["status"] == "disabled"

        runner.send(sig)
        assert runner.wait() == 0, runner.output()
    assert_gone(children, [port for _, port in urls.values()])
    assert not workdir.exists(), "the temporary folder was not removed"


def test_runner_stops_everything_when_a_child_dies(fast_config):
    find_binaries()
    with velo_tracker("demo", "--free-ports", "--config", str(fast_config)) as runner:
        urls, _ = start_and_read_urls(runner)
        children = child_pids(runner.pid)
        prometheus_port = urls["Prometheus"][1]
        prometheus_pid = next(
            pid for pid in children
            if f"--web.listen-address=127.0.0.1:{prometheus_port}".encode()
            in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        os.kill(prometheus_pid, signal.SIGKILL)
        assert runner.wait() == 1
        assert "Prometheus exited" in runner.stderr.text(2.0)
    assert_gone(children, [port for _, port in urls.values()])



def test_children_stop_even_when_the_runner_is_killed(fast_config):
    """SIGKILL gives the runner no chance to clean up: its children stop by themselves (Linux)."""
    find_binaries()
    with velo_tracker("demo", "--free-ports", "--config", str(fast_config)) as runner:
        urls, workdir = start_and_read_urls(runner)
        children = child_pids(runner.pid)
        runner.send(signal.SIGKILL)
        assert runner.wait() == -signal.SIGKILL
    try:
        assert_gone(children, [port for _, port in urls.values()])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the runner had no chance to remove it
