"""Provisioning: one set of addresses, promtool check config, amtool check-config, Grafana files."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
import yaml

from tests.support import PROJECT_ROOT, require_binary
from tracker.bundle.config import PrometheusConfig, demo_config
from tracker.bundle.generate import demo_generation, write_bundle
from tracker.bundle.provisioning import (
    ALERTMANAGER_FILE,
    COMPOSE,
    GRAFANA_DASHBOARD_PROVIDER_FILE,
    GRAFANA_DATASOURCE_FILE,
    PROMETHEUS_FILE,
    StackAddresses,
    alertmanager_config,
    prometheus_config,
    provisioning_files,
    render_alertmanager_config,
    render_prometheus_config,
)

CONFIG = demo_config()


def run(tool, package, *args):
    path = require_binary(tool, package)
    return subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=120)


def committed(relative):
    return yaml.safe_load((PROJECT_ROOT / relative).read_text(encoding="utf-8"))


def test_compose_addresses_are_the_contract_with_the_demo():
    assert COMPOSE.demo_app == "demo-app:8000"
    assert COMPOSE.alertmanager == "alertmanager:9093"
    assert COMPOSE.webhook_url == "http://demo-app:8000/alertmanager/webhook"
    assert COMPOSE.rule_files == ("/etc/prometheus/rules/*.rules.yml",)
    assert COMPOSE.prometheus_url == "http://prometheus:9090"
    assert COMPOSE.dashboards_dir == "/var/lib/grafana/dashboards"


def test_prometheus_scrapes_the_service_loads_rules_and_alerts():
    assert committed(PROMETHEUS_FILE) == {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["/etc/prometheus/rules/*.rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [{
            "job_name": "velostream",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": ["demo-app:8000"]}],
        }],
    }


def test_alertmanager_routes_everything_to_the_demo_webhook():
    data = committed(ALERTMANAGER_FILE)
    assert data["route"]["receiver"] == data["receivers"][0]["name"]
    assert data["receivers"][0]["webhook_configs"] == [
        {"url": "http://demo-app:8000/alertmanager/webhook", "send_resolved": True}
    ]


def test_the_native_runner_renders_the_same_design_on_loopback(tmp_path):
    loopback = StackAddresses.loopback(18000, 19093, rules_dir="rules-here")
    assert loopback.webhook_url == "http://127.0.0.1:18000/alertmanager/webhook"
    native = prometheus_config(CONFIG, loopback)
    compose = prometheus_config(CONFIG, COMPOSE)
    assert native["global"] == compose["global"]
    assert native["scrape_configs"][0]["job_name"] == compose["scrape_configs"][0]["job_name"]
    assert native["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:18000"]}]
    assert native["rule_files"] == ["rules-here/*.rules.yml"]
    assert alertmanager_config(CONFIG, loopback)["route"] == alertmanager_config(CONFIG, COMPOSE)["route"]
    assert yaml.safe_load(render_prometheus_config(CONFIG, loopback)) == native
    assert yaml.safe_load(render_alertmanager_config(CONFIG)) == alertmanager_config(CONFIG)


def test_intervals_and_job_come_from_the_config():
    config = dataclasses.replace(
        CONFIG, job="shop", prometheus=PrometheusConfig(scrape_interval="5s", evaluation_interval="10s")
    )
    data = prometheus_config(config)
    assert data["global"] == {"scrape_interval": "5s", "evaluation_interval": "10s"}
    assert data["scrape_configs"][0]["job_name"] == "shop"
    files = provisioning_files(config)
    datasource = yaml.safe_load(files[GRAFANA_DATASOURCE_FILE])["datasources"][0]
    assert datasource["jsonData"] == {"timeInterval": "5s"}


def test_grafana_datasource_and_dashboard_provider():
    (datasource,) = committed(GRAFANA_DATASOURCE_FILE)["datasources"]
    assert datasource["type"] == "prometheus"
    assert (datasource["uid"], datasource["name"]) == (CONFIG.datasource.uid, CONFIG.datasource.name)
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["isDefault"] is True
    (provider,) = committed(GRAFANA_DASHBOARD_PROVIDER_FILE)["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.fixture
def bundle(tmp_path):
    write_bundle(demo_generation(), tmp_path)
    return tmp_path


def test_promtool_check_config(bundle):
    result = run("promtool", "prometheus", "check", "config", bundle / PROMETHEUS_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config_with_the_rules_loaded(bundle):
    config_file = bundle / "prometheus-local.yml"
    addresses = StackAddresses.loopback(8000, 9093, rules_dir=str(bundle / "alerts"))
    config_file.write_text(render_prometheus_config(CONFIG, addresses), encoding="utf-8")
    result = run("promtool", "prometheus", "check", "config", config_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout + result.stderr


def test_amtool_check_config(bundle):
    result = run("amtool", "prometheus-alertmanager", "check-config", bundle / ALERTMANAGER_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 receivers" in result.stdout
