"""``promtool test rules`` unit tests for the generated rules, built from the same config.

Thresholds and ``for`` durations are read from the config, so the tests follow a change of
either; what each test asserts is independent of how the rule is written: input series
are chosen around the threshold (one step above it fires, the threshold itself or 90% of
it does not), and the expected alerts, labels and values are spelled out here. For every
alert the file checks that it fires once its ``for`` has elapsed, not before, and not
just under its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..names import MetricNames
from .config import BundleConfig, format_duration, parse_duration
from .output import to_yaml
from .promql import RATE_WINDOW, RecordedNames, equals, selector
from .rules import (
    ALERTING_GROUP,
    ERROR_BUFFER_FULL,
    ERROR_RATE_HIGH,
    ERROR_TRACKING_ABSENT,
    ERROR_TYPES_HIGH,
    RECORDING_GROUP,
    RULES_FILE,
    AlertRule,
    alert_rules,
)

TESTS_DIR = "tests"
TESTS_FILE = "velostream-error-tracking.test.yml"
INSTANCE_1 = "app-1:8000"
INSTANCE_2 = "app-2:8000"
OTHER_JOB = "some-other-job"
_MINUTE_MS = 60_000


def _num(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def humanize(value: float) -> str:
    """Prometheus' ``humanize`` template function (SI prefixes, four significant digits)."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.4g}"
    if abs(value) >= 1:
        prefixes = ("", "k", "M", "G", "T", "P", "E", "Z", "Y")
        index = 0
        while abs(value) >= 1000 and index < len(prefixes) - 1:
            value /= 1000
            index += 1
    else:
        prefixes = ("", "m", "u", "n", "p", "f", "a", "z", "y")
        index = 0
        while abs(value) < 1 and index < len(prefixes) - 1:
            value *= 1000
            index += 1
    return f"{value:.4g}{prefixes[index]}"


def expand(template: str, labels: dict[str, str], value: float) -> str:
    """An annotation as Prometheus would render it, for the few template forms the rules use."""
    text = template.replace("{{ $value | humanize }}", humanize(value)).replace("{{ $value }}", _num(value))
    for name, label_value in labels.items():
        text = text.replace(f"{{{{ $labels.{name} }}}}", label_value)
    if "{{" in text:
        raise ValueError(f"template form not supported by the rule-test generator: {template!r}")
    return text


@dataclass
class _Scenario:
    """One promtool test: input series and the alerts expected at given times."""

    name: str
    step_ms: int
    series: list[tuple[str, str]] = field(default_factory=list)
    alert_checks: list[dict[str, Any]] = field(default_factory=list)
    expr_checks: list[dict[str, Any]] = field(default_factory=list)

    def constant(self, series: str, value: float, until_ms: int) -> None:
        self.series.append((series, f"{_num(value)}x{until_ms // self.step_ms}"))

    def counter(self, series: str, per_second: float, until_ms: int) -> None:
        increment = per_second * self.step_ms / 1000
        self.series.append((series, f"0+{_num(increment)}x{until_ms // self.step_ms}"))

    def expect_silent(self, rule: AlertRule, *times_ms: int) -> None:
        for at in times_ms:
            self.alert_checks.append(
                {"eval_time": format_duration(at), "alertname": rule.name, "exp_alerts": []}
            )

    def expect_firing(self, rule: AlertRule, at_ms: int, labels: dict[str, str], value: float,
                      runbook_url_base: str) -> None:
        all_labels = {**labels, **rule.labels()}
        annotations = rule.to_rule(runbook_url_base)["annotations"]
        self.alert_checks.append({
            "eval_time": format_duration(at_ms),
            "alertname": rule.name,
            "exp_alerts": [{
                "exp_labels": all_labels,
                "exp_annotations": {k: expand(v, all_labels, value) for k, v in annotations.items()},
            }],
        })

    def to_test(self) -> dict[str, Any]:
        test: dict[str, Any] = {
            "name": self.name,
            "interval": format_duration(self.step_ms),
            "input_series": [{"series": s, "values": v} for s, v in self.series],
        }
        if self.alert_checks:
            test["alert_rule_test"] = self.alert_checks
        if self.expr_checks:
            test["promql_expr_test"] = self.expr_checks
        return test


def _step_ms(config: BundleConfig) -> int:
    """Sampling and evaluation step: divides every ``for`` and the rate window."""
    step = _MINUTE_MS
    for settings in config.alerts.all().values():
        step = math.gcd(step, parse_duration(settings.for_))
    return step


def _scenarios(config: BundleConfig) -> Iterable[_Scenario]:
    names = MetricNames(config.namespace)
    recorded = RecordedNames(names)
    rules = {rule.name: rule for rule in alert_rules(config)}
    step = _step_ms(config)
    window = parse_duration(RATE_WINDOW)
    base = config.alerts.runbook_url_base
    job = config.job

    def series(metric: str, instance: str | None = INSTANCE_1, job_value: str = job) -> str:
        matchers = [equals("job", job_value)] + ([equals("instance", instance)] if instance else [])
        return selector(metric, *matchers)

    on_instance = {"job": job, "instance": INSTANCE_1}

    # VeloErrorTypesHigh: more than `threshold` unique types for `for`.
    rule = rules[ERROR_TYPES_HIGH]
    settings = config.alerts.error_types_high
    hold = parse_duration(settings.for_)
    above = settings.threshold + 1
    s = _Scenario(f"{rule.name} fires once {_num(above)} types have lasted {settings.for_}", step)
    s.constant(series(names.unique_error_types), above, 2 * hold)
    s.expect_silent(rule, hold - step)
    s.expect_firing(rule, hold, on_instance, above, base)
    yield s
    s = _Scenario(f"{rule.name} stays silent at exactly {_num(settings.threshold)} types", step)
    s.constant(series(names.unique_error_types), settings.threshold, 3 * hold)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s

    # VeloErrorBufferFull: buffered messages at the exposed capacity for `for`.
    rule = rules[ERROR_BUFFER_FULL]
    settings = config.alerts.error_buffer_full
    hold = parse_duration(settings.for_)
    capacity = config.buffer_capacity
    s = _Scenario(
        f"{rule.name} fires once {capacity} of {capacity} buffered have lasted {settings.for_}", step
    )
    s.constant(series(names.buffered_error_messages), capacity, 2 * hold)
    s.constant(series(names.error_buffer_capacity), capacity, 2 * hold)
    s.expect_silent(rule, hold - step)
    s.expect_firing(rule, hold, on_instance, capacity, base)
    yield s
    s = _Scenario(f"{rule.name} stays silent at {capacity - 1} of {capacity} buffered", step)
    s.constant(series(names.buffered_error_messages), capacity - 1, 3 * hold)
    s.constant(series(names.error_buffer_capacity), capacity, 3 * hold)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s
    s = _Scenario(f"{rule.name} compares with the exposed capacity, not a constant", step)
    s.constant(series(names.buffered_error_messages), capacity, 3 * hold)
    s.constant(series(names.error_buffer_capacity), 2 * capacity, 3 * hold)
    s.expect_silent(rule, hold, 3 * hold)
    yield s

    # VeloErrorRateHigh: the job's error rate over the window above `threshold` for `for`.
    # A counter's rate needs two samples, so the condition cannot hold before one step:
    # at `for` the alert is at most pending; once the window is full the rate is exact.
    rule = rules[ERROR_RATE_HIGH]
    settings = config.alerts.error_rate_high
    hold = parse_duration(settings.for_)
    threshold = settings.threshold
    on_job = {"job": job}
    fast = 2 * threshold
    s = _Scenario(f"{rule.name} fires once {_num(fast)}/s has lasted {settings.for_}", step)
    s.counter(series(names.error_messages_total), fast, window + 2 * hold)
    s.expect_silent(rule, hold)
    s.expect_firing(rule, window + hold, on_job, fast, base)
    yield s
    slow = 0.9 * threshold
    s = _Scenario(f"{rule.name} stays silent at {_num(slow)}/s (90% of the threshold)", step)
    s.counter(series(names.error_messages_total), slow, window + 3 * hold)
    s.expect_silent(rule, window + hold, window + 2 * hold, window + 3 * hold)
    yield s
    share = 0.6 * threshold
    s = _Scenario(f"{rule.name} sums the job's instances ({_num(share)}/s each)", step)
    s.counter(series(names.error_messages_total, INSTANCE_1), share, window + 2 * hold)
    s.counter(series(names.error_messages_total, INSTANCE_2), share, window + 2 * hold)
    s.expect_firing(rule, window + hold, on_job, 2 * share, base)
    yield s

    # VeloErrorTrackingAbsent: no error-count series from the job for `for`.
    rule = rules[ERROR_TRACKING_ABSENT]
    settings = config.alerts.error_tracking_absent
    hold = parse_duration(settings.for_)
    s = _Scenario(f"{rule.name} fires once the job's metrics have been missing for {settings.for_}", step)
    s.constant(series(names.error_messages_total, job_value=OTHER_JOB), 0, 2 * hold)
    s.expect_silent(rule, hold - step)
    s.expect_firing(rule, hold, on_job, 1, base)
    yield s
    s = _Scenario(f"{rule.name} stays silent while the job exposes its metrics", step)
    s.constant(series(names.error_messages_total), 0, 3 * hold)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s

    # Recording rules: per-instance rates, and their per-job sum.
    s = _Scenario("recording rules compute per-instance and per-job error rates", step)
    s.counter(series(names.error_messages_total, INSTANCE_1), 1, 2 * window)
    s.counter(series(names.error_messages_total, INSTANCE_2), 3, 2 * window)
    s.counter(series(names.error_messages_total, INSTANCE_1, OTHER_JOB), 0.5, 2 * window)
    at = format_duration(2 * window)
    s.expr_checks.append({
        "expr": recorded.instance_error_rate,
        "eval_time": at,
        "exp_samples": [
            {"labels": selector(recorded.instance_error_rate, equals("instance", INSTANCE_1),
                                equals("job", OTHER_JOB)), "value": 0.5},
            {"labels": selector(recorded.instance_error_rate, equals("instance", INSTANCE_1),
                                equals("job", job)), "value": 1},
            {"labels": selector(recorded.instance_error_rate, equals("instance", INSTANCE_2),
                                equals("job", job)), "value": 3},
        ],
    })
    s.expr_checks.append({
        "expr": selector(recorded.job_error_rate, equals("job", job)),
        "eval_time": at,
        "exp_samples": [{"labels": selector(recorded.job_error_rate, equals("job", job)), "value": 4}],
    })
    yield s


def rule_test_file(config: BundleConfig) -> dict[str, Any]:
    """The unit-test file's content; it sits in ``alerts/tests/`` beside the rule file."""
    return {
        "rule_files": [f"../{RULES_FILE}"],
        "evaluation_interval": format_duration(_step_ms(config)),
        # Prometheus evaluates groups concurrently; here the recorded rate is fresh for the alerts.
        "group_eval_order": [RECORDING_GROUP, ALERTING_GROUP],
        "tests": [s.to_test() for s in _scenarios(config)],
    }


def render_rule_tests(config: BundleConfig) -> str:
    return to_yaml(rule_test_file(config))
