"""Grafana, Prometheus and Alertmanager configuration for the demo stack (``generate --demo`` only).

Every address lives in one :class:`StackAddresses`. :data:`COMPOSE` holds the compose
service names (what the committed files contain); the native runner builds its own
instance with loopback addresses and renders the same configuration with
:func:`prometheus_config` and :func:`alertmanager_config`, so both stacks run one design.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import BundleConfig
from .output import to_yaml
from .rules import RULE_FILE_GLOB

#: Where compose mounts the repository's folders (see docker-compose.yml).
COMPOSE_RULES_DIR = "/etc/prometheus/rules"
COMPOSE_DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
WEBHOOK_PATH = "/alertmanager/webhook"

#: Generated files, relative to the bundle's root.
GRAFANA_DATASOURCE_FILE = "provisioning/grafana/datasources/prometheus.yml"
GRAFANA_DASHBOARD_PROVIDER_FILE = "provisioning/grafana/dashboards/velostream.yml"
PROMETHEUS_FILE = "provisioning/prometheus/prometheus.yml"
ALERTMANAGER_FILE = "provisioning/alertmanager/alertmanager.yml"


@dataclass(frozen=True)
class StackAddresses:
    """Where the stack's services and files are, as seen from the process that reads each file."""

    demo_app: str
    """``host:port`` Prometheus scrapes."""
    alertmanager: str
    """``host:port`` Prometheus sends alerts to."""
    webhook_url: str
    """URL Alertmanager posts notifications to."""
    rule_files: tuple[str, ...]
    """Rule-file paths or globs Prometheus loads."""
    prometheus_url: str = "http://prometheus:9090"
    """URL Grafana's datasource points at (Grafana runs only under compose)."""
    dashboards_dir: str = COMPOSE_DASHBOARDS_DIR
    """Folder Grafana's dashboard provider reads (Grafana runs only under compose)."""

    @classmethod
    def loopback(cls, demo_app_port: int, alertmanager_port: int, rules_dir: str) -> StackAddresses:
        """Addresses of a stack whose processes all run on this machine."""
        return cls(
            demo_app=f"127.0.0.1:{demo_app_port}",
            alertmanager=f"127.0.0.1:{alertmanager_port}",
            webhook_url=f"http://127.0.0.1:{demo_app_port}{WEBHOOK_PATH}",
            rule_files=(f"{rules_dir.rstrip('/')}/{RULE_FILE_GLOB}",),
        )


COMPOSE = StackAddresses(
    demo_app="demo-app:8000",
    alertmanager="alertmanager:9093",
    webhook_url=f"http://demo-app:8000{WEBHOOK_PATH}",
    rule_files=(f"{COMPOSE_RULES_DIR}/{RULE_FILE_GLOB}",),
)


def prometheus_config(config: BundleConfig, addresses: StackAddresses = COMPOSE) -> dict[str, Any]:
    """``prometheus.yml``: scrape the service, load the rules, send alerts to Alertmanager."""
    return {
        "global": {
            "scrape_interval": config.prometheus.scrape_interval,
            "evaluation_interval": config.prometheus.evaluation_interval,
        },
        "rule_files": list(addresses.rule_files),
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [addresses.alertmanager]}]}],
        },
        "scrape_configs": [
            {
                "job_name": config.identity.job,
                "metrics_path": config.prometheus.metrics_path,
                "static_configs": [{"targets": [addresses.demo_app]}],
            }
        ],
    }


def alertmanager_config(config: BundleConfig, addresses: StackAddresses = COMPOSE) -> dict[str, Any]:
    """``alertmanager.yml``: one route to one webhook receiver, resolved alerts included."""
    settings = config.alertmanager
    return {
        "route": {
            "receiver": settings.receiver,
            "group_by": list(settings.group_by),
            "group_wait": settings.group_wait,
            "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval,
        },
        "receivers": [
            {
                "name": settings.receiver,
                "webhook_configs": [{"url": addresses.webhook_url, "send_resolved": True}],
            }
        ],
    }


def grafana_datasources(config: BundleConfig, addresses: StackAddresses = COMPOSE) -> dict[str, Any]:
    """Grafana's datasource provisioning: the Prometheus the stack runs, as the default datasource."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": config.datasource.name,
                "uid": config.datasource.uid,
                "type": "prometheus",
                "access": "proxy",
                "url": addresses.prometheus_url,
                "isDefault": True,
                "editable": False,
                # Lets Grafana size $__rate_interval from the real scrape interval.
                "jsonData": {"timeInterval": config.prometheus.scrape_interval},
            }
        ],
    }


def grafana_dashboard_provider(config: BundleConfig, addresses: StackAddresses = COMPOSE) -> dict[str, Any]:
    """Grafana's dashboard provisioning: load every dashboard file in the mounted folder."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": config.identity.dashboard_uid,
                "orgId": 1,
                "folder": "",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": addresses.dashboards_dir, "foldersFromFilesStructure": False},
            }
        ],
    }


def render_prometheus_config(config: BundleConfig, addresses: StackAddresses = COMPOSE,
                             command: str = "") -> str:
    return to_yaml(prometheus_config(config, addresses), command=command)


def render_alertmanager_config(config: BundleConfig, addresses: StackAddresses = COMPOSE,
                               command: str = "") -> str:
    return to_yaml(alertmanager_config(config, addresses), command=command)


def provisioning_files(config: BundleConfig, addresses: StackAddresses = COMPOSE,
                       command: str = "") -> dict[str, str]:
    """Every provisioning file's text by its path relative to the bundle's root (the demo's only)."""
    return {
        GRAFANA_DATASOURCE_FILE: to_yaml(grafana_datasources(config, addresses), command=command),
        GRAFANA_DASHBOARD_PROVIDER_FILE: to_yaml(grafana_dashboard_provider(config, addresses),
                                                 command=command),
        PROMETHEUS_FILE: render_prometheus_config(config, addresses, command),
        ALERTMANAGER_FILE: render_alertmanager_config(config, addresses, command),
    }
