"""The bundle configuration: defaults, YAML loading, clear errors, derived copies."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.support import PROJECT_ROOT
from tracker.bundle.config import (
    BundleConfig,
    ConfigError,
    Matcher,
    ThresholdSteps,
    config_from_dict,
    demo_config,
    format_duration,
    load_config,
    parse_duration,
    parse_selector,
)
from tracker.cli import main
from tracker.config import DEFAULT_BUFFER_CAPACITY

EXAMPLE = PROJECT_ROOT / "bundle.example.yml"


def write(tmp_path, text: str):
    path = tmp_path / "bundle.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults_carry_the_spec_thresholds_and_alerts():
    config = BundleConfig()
    assert config.namespace == "velo"
    assert config.panels.total_error_count == ThresholdSteps(5, 10, 20)
    assert config.panels.unique_error_types == ThresholdSteps(2, 4, 8)
    assert config.panels.buffered_error_messages == ThresholdSteps(5, 8, 10)
    # Red on the buffered panel is "buffer full": the library's capacity, not a copy of it.
    assert config.panels.buffered_error_messages.red == DEFAULT_BUFFER_CAPACITY == config.buffer_capacity
    alerts = config.alerts
    assert (alerts.error_types_high.threshold, alerts.error_types_high.for_) == (5, "5m")
    assert alerts.error_buffer_full.for_ == "1m"
    # Alerts look at a recent window, and the runbook URL is the user's to set.
    assert (alerts.error_types_high.window, alerts.error_buffer_full.window) == ("10m", "10m")
    assert (alerts.new_error_type.lookback, alerts.new_error_type.window) == ("24h", "15m")
    assert alerts.runbook_url_base == ""


def test_the_default_job_is_the_namespace_and_names_follow_it():
    identity = BundleConfig(namespace="billing").identity
    assert (identity.job, identity.selector) == ("billing", 'job="billing"')
    assert identity.dashboard_uid == "billing-error-tracking"
    assert identity.dashboard_title == "Billing Error Tracking"
    assert identity.alert_prefix == "Billing"
    named = BundleConfig(namespace="shop", job="orders-api").identity
    assert (named.job, named.alert_prefix) == ("orders-api", "OrdersApi")
    assert named.stem == "orders-api-error-tracking"


def test_the_demo_keeps_the_specs_names():
    identity = demo_config().identity
    assert identity.dashboard_uid == "velostream-error-tracking"
    assert identity.dashboard_title == "Velostream Error Tracking"
    assert (identity.job, identity.alert_prefix) == ("velostream", "Velo")


def test_a_selector_string_takes_the_job_from_its_matchers():
    config = BundleConfig(namespace="billing", selector='job="billing-api", env=~"prod|staging"')
    identity = config.identity
    assert identity.job == "billing-api"
    assert identity.selector == 'job="billing-api", env=~"prod|staging"'
    assert identity.service_labels == ("job", "env")
    assert parse_selector('{job="a\\"b"}') == (Matcher("job", "=", 'a"b'),)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("job", "cannot read a matcher"),
        ('job="a" env="b"', "expected ','"),
        ('job=~"("', "not a valid regular expression"),
        ('env!="prod"', "matches every series"),
        ('job=~".*"', "matches every series"),
    ],
)
def test_bad_selectors_are_named(selector, message):
    with pytest.raises(ConfigError, match=message):
        BundleConfig().with_overrides(selector=selector)


def test_a_long_name_still_gives_a_valid_unique_uid():
    first = BundleConfig(job="a-very-long-service-name-for-the-billing-team").identity.dashboard_uid
    second = BundleConfig(job="a-very-long-service-name-for-the-billing-teams").identity.dashboard_uid
    assert len(first) <= 40 and len(second) <= 40 and first != second


def test_the_error_types_threshold_must_stay_below_the_buffer_capacity():
    with pytest.raises(ConfigError, match="must be below buffer_capacity"):
        config_from_dict({"buffer_capacity": 10, "alerts": {"error_types_high": {"threshold": 10}}})


def test_kubernetes_labels_are_mappings_of_strings(tmp_path):
    config = load_config(write(tmp_path, """
        kubernetes:
          rule_labels: {release: kube-prometheus-stack}
          dashboard_labels: {grafana_dashboard: "1"}
    """))
    assert dict(config.kubernetes.rule_labels) == {"release": "kube-prometheus-stack"}
    with pytest.raises(ConfigError, match="quote numbers"):
        load_config(write(tmp_path, "kubernetes:\n  dashboard_labels: {grafana_dashboard: 1}\n"))


def test_the_example_file_spells_out_every_key_with_the_default_values():
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert load_config(EXAMPLE) == BundleConfig()

    def keys(value, prefix=""):
        if isinstance(value, dict):
            return {k for key, v in value.items() for k in {prefix + key} | keys(v, prefix + key + ".")}
        return set()

    assert keys(data) == keys(BundleConfig().to_dict())


def test_a_partial_file_keeps_the_other_defaults(tmp_path):
    config = load_config(write(tmp_path, """
        namespace: myapp
        alerts:
          error_types_high: {threshold: 7}
        panels:
          unique_error_types: {red: 9}
    """))
    assert config.namespace == "myapp"
    assert config.alerts.error_types_high.threshold == 7
    assert config.alerts.error_types_high.for_ == "5m"
    assert config.panels.unique_error_types == ThresholdSteps(2, 4, 9)
    assert config.dashboard == BundleConfig().dashboard


def test_an_empty_file_or_section_gives_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == BundleConfig()
    assert load_config(write(tmp_path, "alerts:\npanels:\n")) == BundleConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nmespace: x\n", "unknown key 'nmespace'"),
        ("alerts:\n  error_types_high: {fro: 5m}\n", "alerts.error_types_high: unknown key 'fro'"),
        ("dashboard: {colour: red}\n", "dashboard: unknown key 'colour'; expected one of: uid, title"),
        ("alerts:\n  error_buffer_full: {for: 5 minutes}\n",
         "alerts.error_buffer_full: for must be a Prometheus"),
        ("alerts:\n  error_rate_high: {severity: page}\n", "severity must be one of critical, warning, info"),
        ("alerts:\n  error_rate_high: {threshold: high}\n",
         "alerts.error_rate_high.threshold: must be a number"),
        ("panels:\n  total_error_count: {yellow: 30}\n",
         "panels.total_error_count: thresholds must increase"),
        ("namespace: 1app\n", "namespace must match"),
        ("job: 'a\"b'\n", "job must be a label value without quotes"),
        ("alerts:\n  new_error_type: {for: 20m}\n", "must be shorter than window"),
        ("kubernetes: {namespace: Not_Valid}\n", "kubernetes: namespace must be a Kubernetes namespace"),
        ("buffer_capacity: 0\n", "buffer_capacity must be an int >= 1"),
        ("buffer_capacity: true\n", "buffer_capacity: must be an integer"),
        ("dashboard: {tags: errors}\n", "dashboard.tags: must be a list of strings"),
        ("dashboard: {time_from: yesterday}\n", "time_from must be a relative Grafana time"),
        ("prometheus: {scrape_interval: 0s}\n", "scrape_interval must be a positive duration"),
        ("- a list\n", "must be a mapping"),
        ("alerts: [1, 2]\n", "alerts: must be a mapping"),
        ("namespace: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_raise_a_clear_error_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yml")


def test_the_cli_reports_a_bad_config_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, "alerts:\n  error_types_high: {thresold: 3}\n")
    assert main(["generate", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'thresold'" in err
    assert not (tmp_path / "out").exists()


def test_command_line_overrides_namespace_and_job():
    config = BundleConfig().with_overrides(namespace="myapp", job="shop")
    assert (config.namespace, config.identity.job) == ("myapp", "shop")
    assert BundleConfig().with_overrides(namespace="myapp").identity.job == "myapp"
    assert BundleConfig().with_overrides() == BundleConfig()
    with pytest.raises(ConfigError, match="namespace"):
        BundleConfig().with_overrides(namespace="my-app")


def test_with_alert_for_replaces_every_for_and_nothing_else():
    short = BundleConfig().with_alert_for("10s")
    assert {s.for_ for s in short.alerts.all().values()} == {"10s"}
    assert short.alerts.error_types_high.threshold == BundleConfig().alerts.error_types_high.threshold
    assert dataclasses.replace(short, alerts=BundleConfig().alerts) == BundleConfig()
    with pytest.raises(ConfigError, match="for must be a Prometheus duration"):
        BundleConfig().with_alert_for("soon")


def test_to_dict_round_trips():
    config = BundleConfig().with_overrides(namespace="myapp").with_alert_for("2m")
    assert config_from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("text", "ms"), [("15s", 15_000), ("1m", 60_000), ("1h30m", 5_400_000), ("250ms", 250)]
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms
    assert format_duration(ms) == text


@given(st.integers(min_value=1, max_value=10**12))
def test_format_then_parse_duration_round_trips(ms):
    assert parse_duration(format_duration(ms)) == ms


def test_buffered_red_threshold_cannot_exceed_the_buffer_capacity():
    with pytest.raises(ValueError, match=r"panels\.buffered_error_messages\.red .*buffer_capacity"):
        BundleConfig(buffer_capacity=5)
    assert BundleConfig(buffer_capacity=20).panels.buffered_error_messages.red == DEFAULT_BUFFER_CAPACITY
