"""Kubernetes outputs: the PrometheusRule and the dashboard ConfigMap hold exactly the plain files."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.support import PROJECT_ROOT, require_binary
from tracker.bundle.config import BundleConfig, config_from_dict, demo_config
from tracker.bundle.dashboard import dashboard_file
from tracker.bundle.generate import Generation, bundle_files, demo_generation, rules_path, write_bundle
from tracker.bundle.k8s import (
    PROMETHEUS_RULE_API,
    dashboard_configmap_file,
    dashboard_data_key,
    helm_escape,
    helm_unescape,
    prometheus_rule_file,
)


def load(text):
    return yaml.safe_load(text)


@pytest.mark.parametrize("generation", [
    demo_generation(),
    Generation(BundleConfig(namespace="billing", selector='job="billing", env="prod"')),
], ids=["demo", "billing"])
def test_the_manifests_hold_the_same_groups_and_dashboard_as_the_plain_files(generation):
    config = generation.config
    files = bundle_files(generation)
    rule = load(files[prometheus_rule_file(config)])
    assert rule["apiVersion"] == PROMETHEUS_RULE_API == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["name"] == config.identity.stem
    assert rule["spec"] == load(files[rules_path(config)])
    configmap = load(files[dashboard_configmap_file(config)])
    assert (configmap["apiVersion"], configmap["kind"]) == ("v1", "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"  # a string, as the sidecar expects
    (key,) = configmap["data"]
    assert key == dashboard_data_key(config) == f"{config.identity.stem}.json"
    assert json.loads(configmap["data"][key]) == json.loads(files[dashboard_file(config)])
    assert configmap["data"][key] == files[dashboard_file(config)]


def test_the_committed_manifests_are_the_demos():
    config = demo_config()
    for path in (prometheus_rule_file(config), dashboard_configmap_file(config)):
        assert (PROJECT_ROOT / path).read_text(encoding="utf-8") == bundle_files(demo_generation())[path]


def test_labels_annotations_and_namespace_come_from_the_config():
    config = config_from_dict({"namespace": "billing", "kubernetes": {
        "namespace": "monitoring",
        "rule_labels": {"release": "kube-prometheus-stack"},
        "dashboard_labels": {"grafana_dashboard": "yes"},
        "dashboard_annotations": {"grafana_folder": "Services"},
    }})
    files = bundle_files(config)
    rule = load(files[prometheus_rule_file(config)])["metadata"]
    configmap = load(files[dashboard_configmap_file(config)])["metadata"]
    assert rule["namespace"] == configmap["namespace"] == "monitoring"
    assert rule["labels"]["release"] == "kube-prometheus-stack"
    assert configmap["labels"]["grafana_dashboard"] == "yes"
    assert configmap["annotations"] == {"grafana_folder": "Services"}
    default = BundleConfig()
    assert "namespace" not in load(bundle_files(default)[prometheus_rule_file(default)])["metadata"]


def test_two_services_get_distinct_object_names():
    names = set()
    for config in (BundleConfig(namespace="billing"), BundleConfig(namespace="orders")):
        files = bundle_files(config)
        names.add(load(files[prometheus_rule_file(config)])["metadata"]["name"])
        names.add(load(files[dashboard_configmap_file(config)])["metadata"]["name"])
    assert len(names) == 4


def test_helm_escaping_leaves_no_template_for_helm_and_reads_back():
    config = config_from_dict({"namespace": "billing", "kubernetes": {"helm_escape": True}})
    plain = bundle_files(BundleConfig(namespace="billing"))
    files = bundle_files(config)
    for path in (prometheus_rule_file(config), dashboard_configmap_file(config)):
        escaped = files[path]
        assert "{{`{{ $labels.job }}`}}" in escaped or "{{`{{instance}}`}}" in escaped
        # Every "{{" Helm sees opens a raw-string action that prints the original template.
        outside = re.sub(r"\{\{`.*?`\}\}", "", escaped, flags=re.DOTALL)
        assert "{{" not in outside and "}}" not in outside, path
        assert helm_unescape(escaped) == plain[path]
    assert helm_escape("no templates") == "no templates"


def test_promtool_checks_the_groups_extracted_from_the_prometheusrule(tmp_path):
    promtool = require_binary("promtool", "prometheus")
    config = config_from_dict({"namespace": "billing", "kubernetes": {"helm_escape": True}})
    write_bundle(config, tmp_path)
    manifest = load(helm_unescape((tmp_path / prometheus_rule_file(config)).read_text(encoding="utf-8")))
    extracted = tmp_path / "extracted.rules.yml"
    extracted.write_text(yaml.safe_dump(manifest["spec"], sort_keys=False), encoding="utf-8")
    result = subprocess.run([promtool, "check", "rules", str(extracted)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout
