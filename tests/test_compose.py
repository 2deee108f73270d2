"""docker-compose.yml, the Dockerfile and .env.example: valid for Debian's docker-compose, and safe.

No Docker engine is needed: ``docker-compose config`` validates and resolves the file, and
the assertions read both the file as written and the resolved form.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import PROJECT_ROOT, require_binary
from tracker.bundle.dashboard import DASHBOARD_FILE
from tracker.bundle.provisioning import (
    ALERTMANAGER_FILE,
    COMPOSE,
    COMPOSE_DASHBOARDS_DIR,
    COMPOSE_RULES_DIR,
    PROMETHEUS_FILE,
)
from tracker.cli import build_parser
from tracker.demo.runner import alertmanager_flags, prometheus_flags

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
SERVICES = {"demo-app", "prometheus", "alertmanager", "grafana"}
PASSWORD_VAR = "GF_SECURITY_ADMIN_PASSWORD"
VERSION_TAG = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+$")


def compose(*args: str, env_file: Path, password: str | None = "correct-horse"):
    binary = require_binary("docker-compose", "docker-compose")
    env = {"PATH": "/usr/bin:/bin"}
    if password is not None:
        env[PASSWORD_VAR] = password
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory):
    """An empty env file, so a developer's own .env cannot change what the tests see."""
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolved(empty_env_file):
    result = compose("config", env_file=empty_env_file)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_config_passes(empty_env_file):
    result = compose("config", "-q", env_file=empty_env_file)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("password", [None, ""])
def test_grafana_password_is_required_with_no_default(empty_env_file, password):
    result = compose("config", "-q", env_file=empty_env_file, password=password)
    assert result.returncode != 0
    assert PASSWORD_VAR in result.stderr


def test_the_four_services(raw, resolved):
    assert set(raw["services"]) == SERVICES
    assert set(resolved["services"]) == SERVICES


def test_images_are_pinned_to_released_versions(raw):
    for name, service in raw["services"].items():
        image = service.get("image", "")
        assert VERSION_TAG.match(image), f"{name}: image {image!r} is not pinned to a version"
        assert "latest" not in image
    assert raw["services"]["demo-app"]["build"]["dockerfile"] == "Dockerfile"


def test_every_port_is_published_on_loopback_only(resolved):
    for name, service in resolved["services"].items():
        ports = service.get("ports", [])
        assert ports, f"{name} publishes no port"
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), f"{name}: {port!r} is not bound to 127.0.0.1"


def _mounts(service):
    """(source, target, mode) of each volume entry of a resolved service."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        mounts.append((source, target, mode[0] if mode else "rw"))
    return mounts


def test_bind_mounts_are_read_only_and_data_lives_in_named_volumes(resolved):
    named = set(resolved["volumes"])
    assert named == {"prometheus-data", "alertmanager-data", "grafana-data"}
    for name, service in resolved["services"].items():
        for source, target, mode in _mounts(service):
            if source.startswith("/"):
                assert mode == "ro", f"{name}: bind mount {source} -> {target} is not read-only"
                assert Path(source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: {source} is neither a bind mount nor a named volume"


def test_mounts_are_the_agreed_layout(resolved):
    def targets(service):
        return {
            target: Path(source).relative_to(PROJECT_ROOT).as_posix()
            for source, target, _ in _mounts(resolved["services"][service]) if source.startswith("/")
        }

    assert targets("prometheus") == {
        "/etc/prometheus/prometheus.yml": PROMETHEUS_FILE,
        COMPOSE_RULES_DIR: "alerts",
    }
    assert targets("alertmanager") == {"/etc/alertmanager/alertmanager.yml": ALERTMANAGER_FILE}
    assert targets("grafana") == {
        "/etc/grafana/provisioning": "provisioning/grafana",
        COMPOSE_DASHBOARDS_DIR: Path(DASHBOARD_FILE).parent.as_posix(),
    }


def test_service_names_and_ports_match_the_generated_addresses(resolved):
    """The committed configuration reaches each service by its compose name and container port."""
    services = resolved["services"]

    def container_ports(name):
        return {str(p).split(":")[-1].split("/")[0] for p in services[name]["ports"]}

    for address in (COMPOSE.demo_app, COMPOSE.alertmanager, COMPOSE.prometheus_url.removeprefix("http://")):
        host, port = address.split(":")
        assert host in services and port in container_ports(host), address
    assert COMPOSE.webhook_url.startswith(f"http://{COMPOSE.demo_app}/")


def test_health_checks_and_depends_on_conditions(resolved):
    services = resolved["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    expected = {
        "alertmanager": {"demo-app"},
        "prometheus": {"demo-app", "alertmanager"},
        "grafana": {"prometheus"},
    }
    for name, needs in expected.items():
        depends = services[name]["depends_on"]
        assert set(depends) == needs
        for dependency in depends.values():
            assert dependency["condition"] == "service_healthy"


def test_prometheus_and_alertmanager_get_the_runners_flags(raw):
    """The native runner and compose start both servers with the same flags (only paths differ)."""
    assert raw["services"]["prometheus"]["command"] == prometheus_flags(
        "/etc/prometheus/prometheus.yml", "/prometheus", "0.0.0.0:9090"
    )
    assert raw["services"]["alertmanager"]["command"] == alertmanager_flags(
        "/etc/alertmanager/alertmanager.yml", "/alertmanager", "0.0.0.0:9093"
    )


def test_demo_app_command_is_a_valid_cli_call(resolved):
    service = resolved["services"]["demo-app"]
    args = build_parser().parse_args(service["command"])
    assert args.command == "demo-app"
    assert args.listen == "0.0.0.0:8000"  # inside the container; published on 127.0.0.1 only


def test_grafana_is_locked_down_and_opens_on_the_dashboard(raw, resolved):
    raw_env = raw["services"]["grafana"]["environment"]
    assert re.fullmatch(r"\$\{GF_SECURITY_ADMIN_PASSWORD:\?[^}]+\}", raw_env[PASSWORD_VAR])
    env = resolved["services"]["grafana"]["environment"]
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{COMPOSE_DASHBOARDS_DIR}/{Path(DASHBOARD_FILE).name}"
    assert (PROJECT_ROOT / DASHBOARD_FILE).is_file()


def test_env_example_lists_every_variable_and_sets_no_password(raw):
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    values = dict(
        line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text(encoding="utf-8")))
    assert used <= set(values), f"not in .env.example: {sorted(used - set(values))}"
    assert values[PASSWORD_VAR] == ""


def test_dockerfile_pins_a_slim_base_and_runs_as_non_root():
    text = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert bases and all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", b) for b in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["velo-tracker"\]', text, re.MULTILINE)  # exec form: gets SIGTERM
    assert "HEALTHCHECK" in text


def test_dockerignore_keeps_the_build_context_small():
    lines = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert lines[lines.index("*") + 1:][:3] == ["!pyproject.toml", "!README.md", "!tracker/"]
