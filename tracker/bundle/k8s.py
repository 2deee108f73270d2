"""Kubernetes outputs: a prometheus-operator ``PrometheusRule`` and a Grafana dashboard ``ConfigMap``.

Both hold exactly what the plain files hold: the ``PrometheusRule``'s ``spec.groups`` are the
rule file's groups, the ``ConfigMap``'s one data key is the dashboard JSON. The ConfigMap
carries the label the Grafana sidecar (kube-prometheus-stack, the Grafana Helm chart) watches,
``grafana_dashboard: "1"`` by default. With ``kubernetes.helm_escape`` every ``{{ ... }}`` is
written as ``{{`{{ ... }}`}}``, so the files can be copied into a Helm chart's ``templates/``.
"""

from __future__ import annotations

import re
from typing import Any

from .config import BundleConfig
from .dashboard import build_dashboard
from .output import to_json, to_yaml
from .rules import rule_groups

K8S_DIR = "k8s"
PROMETHEUS_RULE_API = "monitoring.coreos.com/v1"

_TEMPLATE_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def prometheus_rule_file(config: BundleConfig) -> str:
    return f"{K8S_DIR}/{config.identity.stem}.prometheusrule.yml"


def dashboard_configmap_file(config: BundleConfig) -> str:
    return f"{K8S_DIR}/{config.identity.stem}.dashboard-configmap.yml"


def dashboard_data_key(config: BundleConfig) -> str:
    """The ConfigMap's data key: the file name the sidecar writes the dashboard to."""
    return f"{config.identity.stem}.json"


def _metadata(config: BundleConfig, name: str, labels: dict[str, str],
              annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if config.kubernetes.namespace:
        metadata["namespace"] = config.kubernetes.namespace
    metadata["labels"] = {"app.kubernetes.io/name": config.identity.slug[:63].strip("-_."),
                          "app.kubernetes.io/managed-by": "velo-tracker", **labels}
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def prometheus_rule(config: BundleConfig) -> dict[str, Any]:
    """The ``PrometheusRule`` object holding the rule file's groups."""
    return {
        "apiVersion": PROMETHEUS_RULE_API,
        "kind": "PrometheusRule",
        "metadata": _metadata(config, config.identity.stem, dict(config.kubernetes.rule_labels)),
        "spec": rule_groups(config),
    }


def dashboard_configmap(config: BundleConfig, command: str = "") -> dict[str, Any]:
    """The ``ConfigMap`` holding the dashboard JSON, labelled for the Grafana sidecar."""
    settings = config.kubernetes
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(config, f"{config.identity.stem}-dashboard", dict(settings.dashboard_labels),
                              dict(settings.dashboard_annotations)),
        "data": {dashboard_data_key(config): to_json(build_dashboard(config, command))},
    }


def helm_escape(text: str) -> str:
    """Every ``{{ ... }}`` as ``{{`{{ ... }}`}}``: Helm prints it as it was, Prometheus and Grafana
    see their own templates."""
    return _TEMPLATE_RE.sub(lambda m: "{{`" + m.group(0) + "`}}", text)


def helm_unescape(text: str) -> str:
    """The inverse of :func:`helm_escape` (for reading the files back)."""
    return re.sub(r"\{\{`(\{\{.*?\}\})`\}\}", r"\1", text, flags=re.DOTALL)


def k8s_files(config: BundleConfig, command: str = "") -> dict[str, str]:
    """The two manifests' text by path."""
    files = {
        prometheus_rule_file(config): to_yaml(prometheus_rule(config), command=command),
        dashboard_configmap_file(config): to_yaml(dashboard_configmap(config, command), command=command),
    }
    if config.kubernetes.helm_escape:
        files = {path: helm_escape(text) for path, text in files.items()}
    return files
