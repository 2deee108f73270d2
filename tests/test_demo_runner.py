"""The native runner without starting servers: its files, its flags, and a missing binary."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import yaml

from tests.support import PROJECT_ROOT, require_binary
from tracker.bundle.config import demo_config
from tracker.bundle.provisioning import ALERTMANAGER_FILE, COMPOSE, PROMETHEUS_FILE, StackAddresses
from tracker.bundle.rules import RULES_FILE
from tracker.cli import build_parser
from tracker.demo.runner import (
    INSTALL_COMMAND,
    Binaries,
    DemoStack,
    MissingBinaryError,
    Ports,
    RunOptions,
    free_port,
    run,
)

CONFIG = demo_config()


def _swap_addresses(data, old: StackAddresses, new: StackAddresses):
    """``data`` with every address of ``old`` replaced by the same field of ``new``."""
    mapping = {
        old.demo_app: new.demo_app, old.alertmanager: new.alertmanager, old.webhook_url: new.webhook_url
    }
    mapping.update(zip(old.rule_files, new.rule_files, strict=True))
    if isinstance(data, dict):
        return {k: _swap_addresses(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [_swap_addresses(v, old, new) for v in data]
    return mapping.get(data, data) if isinstance(data, str) else data


@pytest.fixture
def stack(tmp_path):
    return DemoStack(CONFIG, tmp_path, Ports(18000, 19090, 19093), Binaries("prometheus", "alertmanager"))


def test_native_files_are_the_committed_compose_files_with_loopback_addresses(stack):
    files = stack.write_files()
    assert stack.addresses == StackAddresses.loopback(18000, 19093, str(stack.rules_dir))
    for name, committed in (("prometheus", PROMETHEUS_FILE), ("alertmanager", ALERTMANAGER_FILE)):
        native = yaml.safe_load(files[name].read_text(encoding="utf-8"))
        compose = yaml.safe_load((PROJECT_ROOT / committed).read_text(encoding="utf-8"))
        assert native == _swap_addresses(compose, COMPOSE, stack.addresses), name
        assert native != compose
    rules = yaml.safe_load(files["rules"].read_text(encoding="utf-8"))
    assert rules == yaml.safe_load((PROJECT_ROOT / "alerts" / RULES_FILE).read_text(encoding="utf-8"))


def test_native_addresses_are_loopback_only(stack):
    files = stack.write_files()
    prometheus = yaml.safe_load(files["prometheus"].read_text(encoding="utf-8"))
    alertmanager = yaml.safe_load(files["alertmanager"].read_text(encoding="utf-8"))
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:18000"]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    assert prometheus["rule_files"] == [f"{stack.rules_dir}/*.rules.yml"]
    assert alertmanager["receivers"][0]["webhook_configs"][0]["url"] == \
        "http://127.0.0.1:18000/alertmanager/webhook"


def test_rendered_native_files_pass_promtool_and_amtool(stack):
    files = stack.write_files()
    promtool = require_binary("promtool", "prometheus")
    amtool = require_binary("amtool", "prometheus-alertmanager")
    for command in ([promtool, "check", "config", str(files["prometheus"])],
                    [amtool, "check-config", str(files["alertmanager"])]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_for_variant_changes_only_the_rules(tmp_path):
    short = CONFIG.with_alert_for("15s")
    stack = DemoStack(short, tmp_path, Ports(18000, 19090, 19093), Binaries("prometheus", "alertmanager"))
    rules = yaml.safe_load(stack.write_files()["rules"].read_text(encoding="utf-8"))
    alerts = [r for group in rules["groups"] for r in group["rules"] if "alert" in r]
    assert alerts and {a["for"] for a in alerts} == {"15s"}


def test_commands_that_start_each_process(stack):
    children = stack._children(stack.write_files())
    app, alertmanager, prometheus = children
    assert app.command[:4] == [sys.executable, "-m", "tracker.cli", "demo-app"]
    assert app.command[4:6] == ["--listen", "127.0.0.1:18000"]
    assert app.ready_url == "http://127.0.0.1:18000/healthz"
    assert "--cluster.listen-address=" in alertmanager.command
    assert "--web.listen-address=127.0.0.1:19093" in alertmanager.command
    assert f"--storage.path={stack.workdir / 'alertmanager-data'}" in alertmanager.command
    assert "--web.listen-address=127.0.0.1:19090" in prometheus.command
    assert f"--storage.tsdb.path={stack.workdir / 'prometheus-data'}" in prometheus.command
    assert prometheus.ready_url == "http://127.0.0.1:19090/-/ready"
    # The app's command line parses, and matches the configuration's namespace and buffer.
    args = build_parser().parse_args(app.command[3:])
    assert (args.namespace, args.buffer_capacity) == (CONFIG.namespace, CONFIG.buffer_capacity)


def test_free_ports_are_distinct_and_free():
    ports = Ports.free()
    assert len({ports.app, ports.prometheus, ports.alertmanager}) == 3
    assert not ports.busy()
    assert free_port() > 0


def test_missing_prometheus_names_the_binary_and_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(CONFIG, Ports.free(), []), out, err)
    assert code == 2
    message = err.getvalue()
    assert "'prometheus' was not found" in message
    assert INSTALL_COMMAND in message
    assert "apt-get install prometheus prometheus-alertmanager" in message
    assert out.getvalue() == ""


def test_missing_alertmanager_names_both_binary_names(tmp_path):
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    with pytest.raises(MissingBinaryError) as caught:
        Binaries.find(path=str(tmp_path))
    message = str(caught.value)
    assert "'prometheus-alertmanager' or 'alertmanager' was not found" in message
    assert "'prometheus-alertmanager' package" in message
    assert INSTALL_COMMAND in message


def test_missing_binary_through_the_command_line(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "demo", "--free-ports"],
        capture_output=True, text=True, timeout=60, env=env, cwd=PROJECT_ROOT,
    )
    assert result.returncode == 2
    assert "prometheus" in result.stderr and INSTALL_COMMAND in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_is_reported_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        ports = Ports(busy, free_port(), free_port())
        err = io.StringIO()
        code = run(RunOptions(CONFIG, ports, []), io.StringIO(), err,
                   binaries=Binaries("prometheus", "alertmanager"))
    assert code == 2
    assert f"{busy} (demo app)" in err.getvalue() and "--free-ports" in err.getvalue()


def test_cli_defaults():
    args = build_parser().parse_args(["demo"])
    assert (args.app_port, args.prometheus_port, args.alertmanager_port) == (8000, 9090, 9093)
    assert not args.free_ports
    app_args = build_parser().parse_args(["demo-app"])
    assert app_args.listen == "127.0.0.1:8000"


@pytest.mark.parametrize("argv", [
    ["demo", "--app-port", "0"],
    ["demo", "--prometheus-port", "http"],
    ["demo", "--error-rate", "1.5"],
    ["demo-app", "--error-rate", "-0.1"],
])
def test_cli_rejects_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2


def test_bad_alert_for_is_a_clear_error(capsys):
    from tracker.cli import main

    assert main(["demo", "--alert-for", "soon"]) == 2
    assert "for" in capsys.readouterr().err


def test_a_binary_that_cannot_run_is_a_stack_error(tmp_path):
    from tracker.demo.runner import StackError

    not_executable = tmp_path / "prometheus"
    not_executable.write_text("")
    binaries = Binaries(str(not_executable), str(not_executable))
    stack = DemoStack(CONFIG, tmp_path / "work", Ports.free(), binaries)
    child = stack._children(stack.write_files())[1]
    with pytest.raises(StackError, match="cannot start Alertmanager"):
        child.start()
