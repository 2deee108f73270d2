"""Alert and recording rules: mixin style, promtool checks, and unit tests that catch wrong rules."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.support import require_binary
from tracker.bundle.config import BundleConfig, config_from_dict, demo_config, parse_duration
from tracker.bundle.generate import rule_tests_path, rules_path, week_tests_path, write_bundle
from tracker.bundle.rule_tests import humanize, rule_test_file
from tracker.bundle.rules import alerting_group, recording_group, render_rules, rule_groups
from tracker.names import MetricNames

CONFIG = demo_config()
ALERT_NAMES = ["VeloErrorTypesHigh", "VeloErrorBufferFull", "VeloErrorRateHigh", "VeloErrorTrackingAbsent",
               "VeloNewErrorType"]
RULES = rules_path(CONFIG)
TESTS = rule_tests_path(CONFIG)
WEEK = week_tests_path(CONFIG)
SEL = '{job="velostream"}'
LAST_SEEN = f"velo_buffered_error_last_seen_timestamp_seconds{SEL}"


def alerts(config=CONFIG):
    (group,) = [g for g in rule_groups(config)["groups"] if g["name"] == alerting_group(config)]
    return {rule["alert"]: rule for rule in group["rules"]}


def promtool(*args):
    path = require_binary("promtool", "prometheus")
    return subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture
def bundle(tmp_path):
    write_bundle(CONFIG, tmp_path)
    return tmp_path


def with_runbooks(config: BundleConfig, base: str) -> BundleConfig:
    data = config.to_dict()
    data["alerts"]["runbook_url_base"] = base
    return config_from_dict(data)


def test_the_five_alerts_in_mixin_style_without_a_runbook_by_default():
    found = alerts()
    assert list(found) == ALERT_NAMES
    for name, rule in found.items():
        assert re.fullmatch(r"Velo[A-Z][A-Za-z]+", name)
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description"}  # no runbook_url pointing nowhere
        assert annotations["summary"].endswith(".") and "{{" not in annotations["summary"]


def test_a_configured_runbook_base_gives_every_alert_its_runbook_url():
    config = with_runbooks(CONFIG, "https://wiki.example.com/runbooks/")
    for name, rule in alerts(config).items():
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example.com/runbooks/{name.lower()}"


def test_alerts_look_at_recent_errors_not_totals_since_start():
    found = alerts()
    recent = f"count without (message) (time() - {LAST_SEEN} < 600)"
    assert found["VeloErrorTypesHigh"]["expr"] == f"{recent} > 5"
    assert found["VeloErrorBufferFull"]["expr"] == f"{recent} >= velo_error_buffer_capacity{SEL}"
    assert found["VeloErrorRateHigh"]["expr"] == 'job:velo_error_messages:rate5m{job="velostream"} > 1'
    assert found["VeloErrorTrackingAbsent"]["expr"] == 'absent(velo_error_messages_total{job="velostream"})'
    text = render_rules(CONFIG)
    assert "velo_unique_error_types" not in text and "velo_buffered_error_messages{" not in text
    for key, name in zip(CONFIG.alerts.all(), ALERT_NAMES, strict=True):
        assert found[name]["for"] == CONFIG.alerts.all()[key].for_
        assert found[name]["labels"]["severity"] == CONFIG.alerts.all()[key].severity


def test_new_error_type_uses_prometheus_history_and_carries_the_message():
    rule = alerts()["VeloNewErrorType"]
    last_seen = 'velo_buffered_error_last_seen_timestamp_seconds{job="velostream"}'
    assert rule["expr"] == (
        f"max by (job, message) ({last_seen})\nunless\n"
        f"max by (job, message) (max_over_time({last_seen}[24h] offset 15m))"
    )
    assert "{{ $labels.message }}" in rule["annotations"]["description"]
    assert "instance" not in rule["expr"]  # a deploy changes instances, not what the job has shown


def test_buffer_full_compares_with_the_capacity_metric_not_a_literal():
    expr = alerts()["VeloErrorBufferFull"]["expr"]
    assert not re.search(r"\b10\b", expr)


def test_recording_rules_for_the_error_rate_select_the_service():
    (group,) = [g for g in rule_groups(CONFIG)["groups"] if g["name"] == recording_group(CONFIG)]
    assert group["rules"] == [
        {"record": "instance:velo_error_messages:rate5m",
         "expr": 'sum by (job, instance) (rate(velo_error_messages_total{job="velostream"}[5m]))'},
        {"record": "job:velo_error_messages:rate5m",
         "expr": 'sum by (job) (instance:velo_error_messages:rate5m{job="velostream"})'},
    ]


def test_a_selector_keeps_its_labels_through_the_recording_rules():
    config = BundleConfig(namespace="billing", selector='job="billing", env="prod"')
    text = render_rules(config)
    total = 'billing_error_messages_total{job="billing", env="prod"}'
    assert f"sum by (job, env, instance) (rate({total}[5m]))" in text
    assert 'job:billing_error_messages:rate5m{job="billing", env="prod"} > 1' in text
    assert "max by (job, env, message)" in text


def test_short_for_variant_for_end_to_end_tests():
    short = CONFIG.with_alert_for("10s")
    assert {rule["for"] for rule in alerts(short).values()} == {"10s"}
    assert [rule["expr"] for rule in alerts(short).values()] == [rule["expr"] for rule in alerts().values()]
    assert "for: 10s" in render_rules(short)


def test_another_service_has_its_own_names_everywhere():
    config = BundleConfig(namespace="myapp", job="shop")
    text = render_rules(config)
    assert 'job="shop"' in text and "job:myapp_error_messages:rate5m" in text
    assert [g["name"] for g in rule_groups(config)["groups"]] == [
        "shop-error-tracking.rules", "shop-error-tracking.alerts"]
    assert list(alerts(config)) == [n.replace("Velo", "Shop") for n in ALERT_NAMES]
    assert not re.search(r"\bvelo_[a-z]", text)
    assert MetricNames("myapp").buffered_error_last_seen in text


def test_rule_file_marker_and_determinism():
    text = render_rules(CONFIG, "velo-tracker generate --demo")
    assert text.startswith("# Generated by velo-tracker; do not edit by hand. "
                           "Regenerate with: velo-tracker generate --demo\n")
    assert text.endswith("\n") and text == render_rules(demo_config(), "velo-tracker generate --demo")
    assert yaml.safe_load(text) == rule_groups(CONFIG)


@pytest.mark.parametrize(
    ("value", "text"), [(6, "6"), (2, "2"), (1.2000000000000002, "1.2"), (0.9, "900m"), (1500, "1.5k")]
)
def test_humanize_matches_prometheus(value, text):
    assert humanize(value) == text


def test_rule_tests_cover_each_alert_firing_silent_and_resolving():
    tests = rule_test_file(CONFIG)["tests"]
    names = [t["name"] for t in tests]
    for alert in ALERT_NAMES:
        ours = [t for t in tests if t["name"].startswith(alert)]
        fired = [c for t in ours for c in t.get("alert_rule_test", []) if c["exp_alerts"]]
        silent = [c for t in ours for c in t.get("alert_rule_test", []) if not c["exp_alerts"]]
        assert fired and silent, alert
    assert any("exactly 5 recent types" in n for n in names)
    assert any("9 of 10 buffered" in n for n in names)
    assert sum("resolves" in n for n in names) >= 4
    new = [n for n in names if n.startswith("VeloNewErrorType")]
    assert any("restart" in n for n in new) and any("more than 24h ago" in n for n in new)
    (week,) = rule_test_file(CONFIG, week=True)["tests"]
    last = max(parse_duration(c["eval_time"]) for c in week["alert_rule_test"])
    assert last == 7 * 24 * 3600 * 1000
    assert {c["alertname"] for c in week["alert_rule_test"] if not c["exp_alerts"]} == set(ALERT_NAMES)


def test_promtool_check_rules(bundle):
    result = promtool("check", "rules", bundle / RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_promtool_rule_unit_tests_pass(bundle):
    result = promtool("test", "rules", bundle / TESTS, bundle / WEEK)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config", [
    BundleConfig(namespace="myapp", job="shop", buffer_capacity=20).with_alert_for("30s"),
    BundleConfig(namespace="billing", selector='job="billing", env=~"prod|staging"'),
], ids=["capacity-20-for-30s", "selector-with-regex"])
def test_rule_unit_tests_pass_for_other_configs(tmp_path, config):
    write_bundle(config, tmp_path)
    result = promtool("test", "rules", tmp_path / rule_tests_path(config), tmp_path / week_tests_path(config))
    assert result.returncode == 0, result.stdout + result.stderr


# Each wrong rule must make a specific unit test fail: the tests are not a copy of the rules.
WRONG_RULES = [
    (f"{LAST_SEEN} < 600) > 5", f"{LAST_SEEN} < 600) >= 5",
     "VeloErrorTypesHigh stays silent at exactly 5 recent types", TESTS),
    (f"{LAST_SEEN} < 600) > 5", f"{LAST_SEEN} < 600) > 6",
     "VeloErrorTypesHigh fires with 6 types", TESTS),
    # Counting every buffered type, however old: the alert never resolves.
    (f"count without (message) (time() - {LAST_SEEN} < 600) > 5",
     f"count without (message) ({LAST_SEEN}) > 5",
     "VeloErrorTypesHigh fires with 6 types seen in 10m for 5m, and resolves", TESTS),
    (f"count without (message) (time() - {LAST_SEEN} < 600) > 5", f"velo_unique_error_types{SEL} > 5",
     "VeloErrorTypesHigh fires with 6 types", TESTS),
    (f"< 600) >= velo_error_buffer_capacity{SEL}", f"< 600) >= 0 * velo_error_buffer_capacity{SEL} + 10",
     "VeloErrorBufferFull compares with the exposed capacity", TESTS),
    (f"< 600) >= velo_error_buffer_capacity{SEL}", f"< 600) >= velo_error_buffer_capacity{SEL} - 1",
     "VeloErrorBufferFull stays silent at 9 of 10 buffered", TESTS),
    (f"< 600) >= velo_error_buffer_capacity{SEL}", f"< 6000) >= velo_error_buffer_capacity{SEL}",
     "VeloErrorBufferFull fires with 10 of 10 seen in 10m for 1m, and resolves", TESTS),
    ("rate5m{job=\"velostream\"} > 1", "rate5m{job=\"velostream\"} > 0.8",
     "VeloErrorRateHigh stays silent at 0.9/s", TESTS),
    ("sum by (job) (instance:velo_error_messages:rate5m",
     "max by (job) (instance:velo_error_messages:rate5m",
     "VeloErrorRateHigh sums the job's instances", TESTS),
    ("absent(velo_error_messages_total{job=\"velostream\"})", "absent(velo_error_messages_total)",
     "VeloErrorTrackingAbsent fires once", TESTS),
    # Process state instead of Prometheus' history: every known message fires after a restart.
    ("max by (job, message) (max_over_time", "max by (job, instance, message) (max_over_time",
     "VeloNewErrorType stays silent for known messages after a restart", TESTS),
    ("[24h] offset 15m", "[1h] offset 15m",
     "VeloNewErrorType stays silent for known messages after a restart", TESTS),
    ("[24h] offset 15m", "[48h] offset 15m",
     "VeloNewErrorType fires again for a message last shown", TESTS),
    ("[24h] offset 15m", "[24h] offset 2h",
     "VeloNewErrorType fires for a message the job has not shown", TESTS),
    # A total since start, as the old buffer alert had: still firing a week later.
    (f"count without (message) (time() - {LAST_SEEN} < 600) >= velo_error_buffer_capacity{SEL}",
     f"velo_buffered_error_messages{SEL} >= velo_error_buffer_capacity{SEL}",
     "after a storm stops, no alert fires for the next seven days", WEEK),
]


@pytest.mark.parametrize(("old", "new", "failing_test", "tests"), WRONG_RULES,
                         ids=[f"{i}-{w[2][:40]}" for i, w in enumerate(WRONG_RULES)])
def test_unit_tests_catch_a_wrong_rule(bundle, old, new, failing_test, tests):
    rules = bundle / RULES
    text = rules.read_text(encoding="utf-8")
    assert old in text
    rules.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = promtool("test", "rules", bundle / tests)
    assert result.returncode != 0
    assert failing_test in result.stdout + result.stderr


@pytest.mark.parametrize("alert", ALERT_NAMES[:4])
def test_unit_tests_catch_a_shorter_for(bundle, alert):
    data = yaml.safe_load((bundle / RULES).read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["for"] = "0s"
    (bundle / RULES).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = promtool("test", "rules", bundle / TESTS)
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr


def test_unit_tests_catch_a_new_error_rule_that_reads_any_jobs_history(bundle):
    data = yaml.safe_load((bundle / RULES).read_text(encoding="utf-8"))
    (rule,) = [r for g in data["groups"] for r in g["rules"] if r.get("alert") == "VeloNewErrorType"]
    current, history = rule["expr"].split("\nunless\n")
    rule["expr"] = f"{current}\nunless on (message)\n" + history.replace('{job="velostream"}', "")
    (bundle / RULES).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = promtool("test", "rules", bundle / TESTS)
    assert result.returncode != 0
    assert "VeloNewErrorType fires for a message only another job has shown" in result.stdout + result.stderr
