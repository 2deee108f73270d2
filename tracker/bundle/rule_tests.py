"""``promtool test rules`` unit tests for the generated rules, built from the same config.

Thresholds, windows and ``for`` durations are read from the config, so the tests follow a
change of any of them; what each test asserts is independent of how the rule is written:
input series are chosen around the threshold (one above it fires, the threshold itself
does not), and the expected alerts, labels and values are spelled out here. For every
alert the file checks that it fires once its ``for`` has elapsed and not before, not just
under its threshold, and that it resolves by itself within its window once errors stop,
over a seven-day timeline. ``NewErrorType`` is checked for a new message, for a known
message after a restart or deploy (which must not fire), for a message older than the
lookback (new again), and for a message only another job has shown.

Input series carry the labels the service's selector asks for, so the tests of a service
selected by ``job="billing", env="prod"`` feed series with both labels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..names import LABEL_MESSAGE, MetricNames
from .config import BundleConfig, ConfigError, Matcher, format_duration, parse_duration
from .output import to_yaml
from .promql import RATE_WINDOW, RecordedNames, equals, selector
from .rules import (
    ERROR_BUFFER_FULL,
    ERROR_RATE_HIGH,
    ERROR_TRACKING_ABSENT,
    ERROR_TYPES_HIGH,
    NEW_ERROR_TYPE,
    AlertRule,
    alert_rules,
    alerting_group,
    recording_group,
    rules_file,
)

TESTS_DIR = "tests"
#: The demo's test file; other services' follow their name.
TESTS_FILE = "velostream-error-tracking.test.yml"
INSTANCE_1 = "app-1:8000"
INSTANCE_2 = "app-2:8000"
_MINUTE_MS = 60_000
_HOUR_MS = 60 * _MINUTE_MS
#: How long the "resolves by itself" tests keep watching after the last error.
LONG_TIMELINE_MS = 7 * 24 * _HOUR_MS
LONG_SAMPLE_MS = 5 * _MINUTE_MS
KNOWN_MESSAGE = "Connection refused: <host>:<port>"
NEW_MESSAGE = "KeyError: 'currency'"


def tests_file(config: BundleConfig) -> str:
    """The unit-test file's name: ``<name>-error-tracking.test.yml``."""
    return f"{config.identity.stem}.test.yml"


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


def _runs(values: Sequence[float | None]) -> str:
    """promtool's expanding notation for one sample per step (``None``: no sample)."""
    parts = []
    i = 0
    while i < len(values):
        value = values[i]
        if value is None:
            j = i
            while j < len(values) and values[j] is None:
                j += 1
            parts.append(f"_x{j - i}")
            i = j
            continue
        j = i + 1
        delta = None
        while j < len(values) and values[j] is not None:
            step = values[j] - values[j - 1]
            if delta is None:
                delta = step
            elif step != delta:
                break
            j += 1
        count = j - i - 1
        if count == 0:
            parts.append(_num(value))
        elif not delta:
            parts.append(f"{_num(value)}x{count}")
        else:
            sign = "+" if delta > 0 else "-"
            parts.append(f"{_num(value)}{sign}{_num(abs(delta))}x{count}")
        i = j
    return " ".join(parts)


@dataclass
class _Scenario:
    """One promtool test: input series and the alerts expected at given times."""

    name: str
    step_ms: int
    runbook_url_base: str
    series: list[tuple[str, str]] = field(default_factory=list)
    alert_checks: list[dict[str, Any]] = field(default_factory=list)
    expr_checks: list[dict[str, Any]] = field(default_factory=list)

    def samples(self, series: str, values: Sequence[float | None]) -> None:
        self.series.append((series, _runs(values)))

    def constant(self, series: str, value: float, until_ms: int) -> None:
        self.series.append((series, f"{_num(value)}x{until_ms // self.step_ms}"))

    def counter(self, series: str, per_second: float, until_ms: int, then_until_ms: int = 0) -> None:
        """A counter growing at ``per_second`` until ``until_ms``, then flat until ``then_until_ms``."""
        increment = per_second * self.step_ms / 1000
        steps = until_ms // self.step_ms
        text = f"0+{_num(increment)}x{steps}"
        rest = (then_until_ms - until_ms) // self.step_ms
        if rest > 0:
            text += f" {_num(increment * steps)}x{rest - 1}"
        self.series.append((series, text))

    def seen(self, series: str, start_ms: int, stop_ms: int, end_ms: int) -> None:
        """A buffered entry's last-seen timestamp: absent before ``start_ms``, seen at every step
        until ``stop_ms``, then kept in the buffer (its timestamp frozen) until ``end_ms``."""
        values: list[float | None] = []
        for k in range(end_ms // self.step_ms + 1):
            at = k * self.step_ms
            values.append(None if at < start_ms else min(at, stop_ms) / 1000)
        self.samples(series, values)

    def expect_silent(self, rule: AlertRule, *times_ms: int) -> None:
        for at in times_ms:
            if at < 0:
                continue
            self.alert_checks.append(
                {"eval_time": format_duration(at), "alertname": rule.name, "exp_alerts": []}
            )

    def expect_firing(self, rule: AlertRule, at_ms: int, labels: dict[str, str], value: float) -> None:
        all_labels = {**labels, **rule.labels()}
        annotations = rule.annotations(self.runbook_url_base)
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
    """Sampling and evaluation step: divides every ``for``, window and the rate window."""
    step = _MINUTE_MS
    for settings in config.alerts.all().values():
        step = math.gcd(step, parse_duration(settings.for_, allow_zero=True))
        for key in ("window", "lookback"):
            if hasattr(settings, key):
                step = math.gcd(step, parse_duration(getattr(settings, key)))
    return step


_CANDIDATES = ("velo-test", "test", "prod", "x", "1")


def _satisfies(matcher: Matcher, value: str) -> bool:
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    found = re.fullmatch(matcher.value, value) is not None
    return found if matcher.op == "=~" else not found


def _matching_labels(config: BundleConfig) -> dict[str, str]:
    """Label values that satisfy every matcher of the service's selector."""
    by_label: dict[str, list[Matcher]] = {}
    for matcher in config.identity.matchers:
        by_label.setdefault(matcher.label, []).append(matcher)
    labels = {"job": config.identity.job}
    for label, matchers in by_label.items():
        candidates = [m.value for m in matchers if m.op == "="]
        for m in matchers:
            if m.op == "=~":
                candidates += [alt for alt in m.value.split("|") if re.escape(alt) == alt]
        candidates += [config.identity.job, *_CANDIDATES]
        value = next((c for c in candidates if all(_satisfies(m, c) for m in matchers)), None)
        if value is None:
            raise ConfigError(f"selector: cannot build rule-test series for the matchers on {label!r}; "
                              "use equality or alternation matchers such as env=~\"prod|staging\"")
        labels[label] = value
    return labels


def _other_service_labels(config: BundleConfig, labels: dict[str, str]) -> dict[str, str]:
    """Labels of a series the selector does not match (another job's)."""
    for matcher in config.identity.matchers:
        if matcher.op in ("=", "=~"):
            for candidate in (f"{labels[matcher.label]}-other", "some-other-job", "other"):
                if not _satisfies(matcher, candidate):
                    return {**labels, matcher.label: candidate}
    raise ConfigError("selector: cannot build a series it does not match")  # parse_selector prevents it


def _scenarios(config: BundleConfig) -> Iterable[_Scenario]:
    names = MetricNames(config.namespace)
    recorded = RecordedNames(names)
    identity = config.identity
    rules = {rule.kind: rule for rule in alert_rules(config)}
    step = _step_ms(config)
    window = parse_duration(RATE_WINDOW)
    base = config.alerts.runbook_url_base
    service = _matching_labels(config)
    other = _other_service_labels(config, service)

    def series(metric: str, instance: str | None = INSTANCE_1, labels: dict[str, str] = service,
               **extra: str) -> str:
        all_labels = {**labels, **({"instance": instance} if instance else {}), **extra}
        return selector(metric, *(equals(k, v) for k, v in all_labels.items()))

    def scenario(name: str) -> _Scenario:
        return _Scenario(name, step, base)

    def message(i: int) -> str:
        return f"error type {i}"

    on_instance = {**service, "instance": INSTANCE_1}
    on_service = {k: v for k, v in service.items() if k in identity.service_labels}
    capacity = config.buffer_capacity

    # ErrorTypesHigh: more than `threshold` types seen within `window`, for `for`.
    rule = rules[ERROR_TYPES_HIGH]
    settings = config.alerts.error_types_high
    hold = parse_duration(settings.for_, allow_zero=True)
    recent = parse_duration(settings.window)
    above = int(settings.threshold) + 1
    stop = max(_HOUR_MS, 2 * hold)
    until = stop + recent + _HOUR_MS
    s = scenario(f"{rule.name} fires with {above} types seen in {settings.window} for {settings.for_}, "
                 f"and resolves {settings.window} after the errors stop")
    for i in range(above):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, stop, until)
    s.expect_silent(rule, hold - step)
    s.expect_firing(rule, hold, on_instance, above)
    s.expect_firing(rule, stop + recent - step, on_instance, above)
    s.expect_silent(rule, stop + recent, until)
    yield s
    span = 3 * hold + recent
    s = scenario(f"{rule.name} stays silent at exactly {_num(settings.threshold)} recent types")
    for i in range(int(settings.threshold)):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, span, span)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s
    s = scenario(f"{rule.name} counts only types seen in the last {settings.window}")
    for i in range(above - 1):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, span, span)
    s.constant(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: "seen long ago"}),
               -recent / 1000, span)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s

    # ErrorBufferFull: every buffered entry seen within `window`, for `for`.
    rule = rules[ERROR_BUFFER_FULL]
    settings = config.alerts.error_buffer_full
    hold = parse_duration(settings.for_, allow_zero=True)
    recent = parse_duration(settings.window)
    stop = max(_HOUR_MS, 2 * hold)
    until = stop + recent + _HOUR_MS
    s = scenario(f"{rule.name} fires with {capacity} of {capacity} seen in {settings.window} for "
                 f"{settings.for_}, and resolves {settings.window} after the errors stop")
    for i in range(capacity):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, stop, until)
    s.constant(series(names.buffered_error_messages), capacity, until)
    s.constant(series(names.error_buffer_capacity), capacity, until)
    s.expect_silent(rule, hold - step)
    s.expect_firing(rule, hold, on_instance, capacity)
    s.expect_firing(rule, stop + recent - step, on_instance, capacity)
    s.expect_silent(rule, stop + recent, until)
    yield s
    span = 3 * hold + recent
    s = scenario(f"{rule.name} stays silent at {capacity - 1} of {capacity} buffered")
    for i in range(capacity - 1):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, span, span)
    s.constant(series(names.error_buffer_capacity), capacity, span)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s
    s = scenario(f"{rule.name} stays silent while one of {capacity} buffered is older than {settings.window}")
    for i in range(capacity - 1):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, span, span)
    s.constant(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: "seen long ago"}),
               -recent / 1000, span)
    s.constant(series(names.error_buffer_capacity), capacity, span)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s
    s = scenario(f"{rule.name} compares with the exposed capacity, not a constant")
    for i in range(capacity):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: message(i)}), 0, span, span)
    s.constant(series(names.error_buffer_capacity), 2 * capacity, span)
    s.expect_silent(rule, hold, 3 * hold)
    yield s

    # ErrorRateHigh: the job's error rate over the window above `threshold` for `for`.
    # A counter's rate needs two samples, so the condition cannot hold before one step:
    # at `for` the alert is at most pending; once the window is full the rate is exact.
    rule = rules[ERROR_RATE_HIGH]
    settings = config.alerts.error_rate_high
    hold = parse_duration(settings.for_, allow_zero=True)
    threshold = settings.threshold
    fast = 2 * threshold if threshold > 0 else 1
    stop = window + 2 * hold + _HOUR_MS
    until = stop + window + _HOUR_MS
    s = scenario(f"{rule.name} fires once {_num(fast)}/s has lasted {settings.for_}, and resolves "
                 f"{RATE_WINDOW} after the errors stop")
    s.counter(series(names.error_messages_total), fast, stop, until)
    if hold:
        s.expect_silent(rule, hold)
    s.expect_firing(rule, window + hold, on_service, fast)
    s.expect_silent(rule, stop + window, until)
    yield s
    slow = 0.9 * threshold
    s = scenario(f"{rule.name} stays silent at {_num(slow)}/s (90% of the threshold)")
    s.counter(series(names.error_messages_total), slow, window + 3 * hold + step)
    s.expect_silent(rule, window + hold, window + 2 * hold, window + 3 * hold)
    yield s
    share = 0.6 * fast
    s = scenario(f"{rule.name} sums the job's instances ({_num(share)}/s each)")
    s.counter(series(names.error_messages_total, INSTANCE_1), share, window + 2 * hold)
    s.counter(series(names.error_messages_total, INSTANCE_2), share, window + 2 * hold)
    s.expect_firing(rule, window + hold, on_service, 2 * share)
    yield s

    # ErrorTrackingAbsent: no error-count series matches the selector for `for`.
    rule = rules[ERROR_TRACKING_ABSENT]
    settings = config.alerts.error_tracking_absent
    hold = parse_duration(settings.for_, allow_zero=True)
    absent_labels = {m.label: m.value for m in identity.matchers if m.op == "="}
    s = scenario(f"{rule.name} fires once the service's metrics have been missing for {settings.for_}")
    s.constant(series(names.error_messages_total, labels=other), 0, 2 * hold + step)
    s.expect_silent(rule, hold - step)
    s.expect_firing(rule, hold, absent_labels, 1)
    yield s
    s = scenario(f"{rule.name} stays silent while the service exposes its metrics")
    s.constant(series(names.error_messages_total), 0, 3 * hold + step)
    s.expect_silent(rule, hold, 2 * hold, 3 * hold)
    yield s

    # NewErrorType: a message the job has not shown within `lookback`, for `window`.
    rule = rules[NEW_ERROR_TYPE]
    settings = config.alerts.new_error_type
    hold = parse_duration(settings.for_, allow_zero=True)
    fresh = parse_duration(settings.window)
    lookback = parse_duration(settings.lookback)
    appears = 2 * _HOUR_MS
    until = appears + fresh + _HOUR_MS
    new_labels = {**on_service, LABEL_MESSAGE: NEW_MESSAGE}
    s = scenario(f"{rule.name} fires for a message the job has not shown, with the message, "
                 f"and resolves {settings.window} later")
    s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: KNOWN_MESSAGE}), 0, until, until)
    s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: NEW_MESSAGE}), appears, until, until)
    s.expect_silent(rule, appears - step)
    s.expect_firing(rule, appears + hold, new_labels, appears / 1000)
    s.expect_firing(rule, appears + fresh - step, new_labels, appears / 1000)
    s.expect_silent(rule, appears + fresh, until)
    yield s
    restart = 6 * _HOUR_MS
    back = restart + 10 * _MINUTE_MS
    until = back + fresh + _HOUR_MS
    evicted = 30 * _MINUTE_MS  # this one left the buffer hours before the restart
    s = scenario(f"{rule.name} stays silent for known messages after a restart on a new instance (a deploy)")
    for text, gone in ((KNOWN_MESSAGE, restart), (NEW_MESSAGE, evicted)):
        s.seen(series(names.buffered_error_last_seen, INSTANCE_1, **{LABEL_MESSAGE: text}), 0, gone,
               gone)
        s.seen(series(names.buffered_error_last_seen, INSTANCE_2, **{LABEL_MESSAGE: text}), back, until,
               until)
    s.expect_silent(rule, back, back + hold, back + step, back + fresh, until)
    yield s
    last = _HOUR_MS
    again = last + lookback + fresh + _HOUR_MS
    until = again + fresh + step
    s = scenario(f"{rule.name} fires again for a message last shown more than {settings.lookback} ago")
    values: list[float | None] = [
        (at / 1000 if at <= last or at >= again else None)
        for at in (k * step for k in range(until // step + 1))
    ]
    s.samples(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: NEW_MESSAGE}), values)
    s.expect_silent(rule, again - step)
    s.expect_firing(rule, again + hold, new_labels, (again + hold) / 1000)
    s.expect_silent(rule, again + fresh)
    yield s
    until = appears + fresh + step
    s = scenario(f"{rule.name} fires for a message only another job has shown")
    s.seen(series(names.buffered_error_last_seen, labels=other, **{LABEL_MESSAGE: NEW_MESSAGE}), 0, until,
           until)
    s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: NEW_MESSAGE}), appears, until, until)
    s.expect_firing(rule, appears + hold, new_labels, (appears + hold) / 1000)
    yield s



    # Recording rules: per-instance rates, and their per-job sum.
    s = scenario("recording rules compute per-instance and per-job error rates of the service only")
    s.counter(series(names.error_messages_total, INSTANCE_1), 1, 2 * window)
    s.counter(series(names.error_messages_total, INSTANCE_2), 3, 2 * window)
    s.counter(series(names.error_messages_total, INSTANCE_1, labels=other), 0.5, 2 * window)
    at = format_duration(2 * window)

    def labels_text(metric: str, labels: dict[str, str]) -> str:
        return selector(metric, *(equals(k, v) for k, v in sorted(labels.items())))

    kept = {k: v for k, v in service.items() if k in identity.service_labels}
    s.expr_checks.append({
        "expr": recorded.instance_error_rate,
        "eval_time": at,
        "exp_samples": [
            {"labels": labels_text(recorded.instance_error_rate, {**kept, "instance": instance}),
             "value": value}
            for instance, value in ((INSTANCE_1, 1), (INSTANCE_2, 3))
        ],
    })
    s.expr_checks.append({
        "expr": recorded.job_error_rate,
        "eval_time": at,
        "exp_samples": [{"labels": labels_text(recorded.job_error_rate, kept), "value": 4}],
    })
    yield s


def _week_scenarios(config: BundleConfig) -> Iterable[_Scenario]:
    """A week after a storm: every alert has resolved and stays resolved.

    Its own file, sampled and evaluated every 5 minutes: a week of 1-minute evaluations of
    the 24-hour lookback would take promtool many seconds.
    """
    names = MetricNames(config.namespace)
    rules = {rule.kind: rule for rule in alert_rules(config)}
    service = _matching_labels(config)
    on_instance = {**service, "instance": INSTANCE_1}
    capacity = config.buffer_capacity
    end = LONG_TIMELINE_MS
    sample = _week_step_ms(config)

    def series(metric: str, **extra: str) -> str:
        labels = {**service, "instance": INSTANCE_1, **extra}
        return selector(metric, *(equals(k, v) for k, v in labels.items()))

    longest_for = max(parse_duration(a.for_, allow_zero=True) for a in config.alerts.all().values())
    stop = max(_HOUR_MS, 2 * longest_for)
    stop = -(-stop // sample) * sample
    s = _Scenario("after a storm stops, no alert fires for the next seven days", sample,
                  config.alerts.runbook_url_base)
    for i in range(capacity):
        s.seen(series(names.buffered_error_last_seen, **{LABEL_MESSAGE: f"error type {i}"}), 0, stop, end)
    s.constant(series(names.buffered_error_messages), capacity, end)
    s.constant(series(names.error_buffer_capacity), capacity, end)
    fast = 10 * max(config.alerts.error_rate_high.threshold, 1)
    s.counter(series(names.error_messages_total), fast, stop, end)
    s.expect_firing(rules[ERROR_TYPES_HIGH], stop, on_instance, capacity)
    s.expect_firing(rules[ERROR_BUFFER_FULL], stop, on_instance, capacity)
    quiet = stop + max(parse_duration(a.window) for a in (config.alerts.error_types_high,
                                                             config.alerts.error_buffer_full))
    for rule in rules.values():
        s.expect_silent(rule, quiet + _HOUR_MS, 24 * _HOUR_MS, 3 * 24 * _HOUR_MS, end)
    yield s


def _week_step_ms(config: BundleConfig) -> int:
    """The seven-day file checks alerts only long after their ``for``: any step will do."""
    return LONG_SAMPLE_MS

def rule_test_file(config: BundleConfig, week: bool = False) -> dict[str, Any]:
    """A unit-test file's content (``week``: the seven-day one); it sits in ``alerts/tests/``."""
    return {
        "rule_files": [f"../{rules_file(config)}"],
        "evaluation_interval": format_duration(_week_step_ms(config) if week else _step_ms(config)),
        # Prometheus evaluates groups concurrently; here the recorded rate is fresh for the alerts.
        "group_eval_order": [recording_group(config), alerting_group(config)],
        "tests": [s.to_test() for s in (_week_scenarios(config) if week else _scenarios(config))],
    }


def week_tests_file(config: BundleConfig) -> str:
    """The seven-day unit-test file's name: ``<name>-error-tracking.week.test.yml``."""
    return f"{config.identity.stem}.week.test.yml"


def render_rule_tests(config: BundleConfig, command: str = "", week: bool = False) -> str:
    return to_yaml(rule_test_file(config, week), command=command)
