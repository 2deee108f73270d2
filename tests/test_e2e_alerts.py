"""End to end: an error storm makes the alert rules fire; the alerts reach Alertmanager (its v2 API)
and the demo app's webhook; a reset resolves them.

The rules are the bundle's, rendered from the configuration's short-``for`` variant
(``BundleConfig.with_alert_for``), not a hand-edited copy.
"""

from __future__ import annotations

import pytest

from tests.servers import E2E_ALERT_FOR, get_json, wait_until
from tracker.bundle.config import parse_duration
from tracker.bundle.rules import alert_rules

STORM_ALERTS = {"VeloErrorTypesHigh", "VeloErrorBufferFull", "VeloErrorRateHigh"}


@pytest.fixture(scope="module")
def stack(stack_factory):
    stack = stack_factory(app_options=["--seed", "21", "--queries-per-second", "5", "--error-rate", "0.1"])
    stack.wait_scraped()
    return stack


def alertmanager_active(stack):
    return {a["labels"]["alertname"] for a in stack.alertmanager_alerts() if a["status"]["state"] == "active"}


def webhook_firing(stack):
    return set(get_json(f"{stack.app_url}/alerts")["firing"])


def test_prometheus_loaded_the_short_for_variant_of_the_bundle_rules(stack):
    groups = stack.prometheus.api("rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
    expected = {rule.name: rule for rule in alert_rules(stack.config)}
    assert set(loaded) == set(expected)
    for name, rule in loaded.items():
        assert rule["duration"] == parse_duration(E2E_ALERT_FOR) / 1000
        assert rule["labels"]["severity"] == expected[name].settings.severity
        assert rule["health"] == "ok", rule


def test_storm_fires_the_alerts_in_prometheus_alertmanager_and_the_webhook(stack):
    prom = stack.prometheus
    assert not prom.firing() & STORM_ALERTS, "an alert fired before the storm"
    storm = stack.app_post("/storm?count=1000&types=24")
    assert storm == {"recorded": 1000, "types": 24}
    view = stack.errors()
    assert view["buffered_errors"] == view["buffer_capacity"]
    assert view["unique_errors"] > stack.config.alerts.error_types_high.threshold

    firing = wait_until(lambda: prom.firing() >= STORM_ALERTS and prom.firing(), 90,
                        stack.diagnostics(f"{sorted(STORM_ALERTS)} to fire in Prometheus"))
    assert "VeloErrorTrackingAbsent" not in firing

    wait_until(lambda: alertmanager_active(stack) >= STORM_ALERTS, 90,
               stack.diagnostics("the alerts in Alertmanager"))
    for alert in stack.alertmanager_alerts():
        if alert["labels"]["alertname"] in STORM_ALERTS:
            assert alert["labels"]["job"] == stack.config.identity.job
            assert alert["labels"]["severity"] in ("critical", "warning", "info")
            assert alert["annotations"]["summary"].endswith(".")
            assert "runbook_url" not in alert["annotations"]  # none unless configured
            assert {r["name"] for r in alert["receivers"]} == {stack.config.alertmanager.receiver}

    wait_until(lambda: webhook_firing(stack) >= STORM_ALERTS, 90,
               stack.diagnostics("the alerts at the demo app's webhook"))
    received = get_json(f"{stack.app_url}/alerts")
    assert received["notifications_received"] >= 1
    assert {a["receiver"] for a in received["alerts"]} == {stack.config.alertmanager.receiver}


def test_new_error_type_fires_in_prometheus_with_the_scrubbed_message(stack):
    # This Prometheus has no history yet: every message the app shows is new to it.
    def new_error_alerts():
        alerts = stack.prometheus.api("alerts")["alerts"]
        return [a for a in alerts
                if a["labels"]["alertname"] == "VeloNewErrorType" and a["state"] == "firing"]

    firing = wait_until(new_error_alerts, 90, stack.diagnostics("VeloNewErrorType to fire"))
    buffered = {e["message"] for e in stack.errors()["entries"]}
    for alert in firing:
        assert alert["labels"]["job"] == stack.config.identity.job
        assert "instance" not in alert["labels"]  # the job's history, whatever the instance
        assert alert["labels"]["message"] in alert["annotations"]["description"]
    assert {a["labels"]["message"] for a in firing} & buffered


def test_reset_resolves_the_buffer_and_types_alerts(stack):
    wait_until(lambda: webhook_firing(stack) >= STORM_ALERTS, 60, "the storm's alerts at the webhook")
    stack.app_post("/pause")  # no new error types while the alerts resolve
    stack.app_post("/reset")
    resolving = {"VeloErrorTypesHigh", "VeloErrorBufferFull"}
    wait_until(lambda: not prom_firing(stack) & resolving, 60, "the alerts to resolve in Prometheus")
    wait_until(lambda: not webhook_firing(stack) & resolving, 90,
               stack.diagnostics("resolved notifications at the webhook"))
    statuses = {a["alertname"]: a["status"] for a in get_json(f"{stack.app_url}/alerts")["alerts"]}
    assert statuses["VeloErrorTypesHigh"] == statuses["VeloErrorBufferFull"] == "resolved"


def prom_firing(stack):
    return stack.prometheus.firing()

