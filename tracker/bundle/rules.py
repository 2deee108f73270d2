"""Prometheus recording and alerting rules, in the style of the Prometheus monitoring mixins.

Everything selects the service with its selector (``job="billing"`` by default) and is named
after it: rule groups ``<name>-error-tracking.rules``/``.alerts``, alerts ``<Prefix>ErrorTypesHigh``...
Recording rules compute the error rate once (per instance, then per job); the dashboard's rate
series and ``…ErrorRateHigh`` read them. The types and buffer alerts count buffered messages
*last seen within a window*, so they resolve by themselves once errors stop; ``…NewErrorType``
compares the messages shown now with the job's own history in Prometheus (``unless … offset``),
so a restart or a deploy does not make known messages fire. Alerts carry a ``severity`` label,
a static ``summary`` ending in a period, a templated ``description``, and a ``runbook_url`` only
when a runbook base is configured. Every threshold, window, ``for`` and severity comes from the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..names import LABEL_MESSAGE, MetricNames
from .config import AlertSettings, BundleConfig, parse_duration
from .output import to_yaml
from .promql import RATE_WINDOW, RecordedNames, selector

#: The demo's rule file (``velo-tracker generate --demo``); other services' follow their name.
RULES_FILE = "velostream-error-tracking.rules.yml"
#: Matches every rule file in the alerts folder (and not the unit tests in alerts/tests/).
RULE_FILE_GLOB = "*.rules.yml"

# The alerts' names, in the monitoring mixins' CamelCase after the service's prefix.
ERROR_TYPES_HIGH = "ErrorTypesHigh"
ERROR_BUFFER_FULL = "ErrorBufferFull"
ERROR_RATE_HIGH = "ErrorRateHigh"
ERROR_TRACKING_ABSENT = "ErrorTrackingAbsent"
NEW_ERROR_TYPE = "NewErrorType"
ALERT_SUFFIXES = (ERROR_TYPES_HIGH, ERROR_BUFFER_FULL, ERROR_RATE_HIGH, ERROR_TRACKING_ABSENT, NEW_ERROR_TYPE)


def rules_file(config: BundleConfig) -> str:
    """The rule file's name: ``<name>-error-tracking.rules.yml``."""
    return f"{config.identity.stem}.rules.yml"


def recording_group(config: BundleConfig) -> str:
    return f"{config.identity.stem}.rules"


def alerting_group(config: BundleConfig) -> str:
    return f"{config.identity.stem}.alerts"


def alert_name(config: BundleConfig, suffix: str) -> str:
    """``<prefix><suffix>``: ``BillingNewErrorType``."""
    return f"{config.identity.alert_prefix}{suffix}"


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule before it is written as YAML."""

    name: str
    expr: str
    settings: AlertSettings
    summary: str
    description: str
    kind: str = ""
    """The alert's suffix (``NewErrorType``), whatever the prefix."""

    def labels(self) -> dict[str, str]:
        return {"severity": self.settings.severity}

    def annotations(self, runbook_url_base: str) -> dict[str, str]:
        annotations = {"summary": self.summary, "description": self.description}
        if runbook_url_base:
            annotations["runbook_url"] = runbook_url_base + self.name.lower()
        return annotations

    def to_rule(self, runbook_url_base: str) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.settings.for_,
            "labels": self.labels(),
            "annotations": self.annotations(runbook_url_base),
        }


def _number(value: float) -> str:
    """A threshold as PromQL and humans write it (``5``, not ``5.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _seconds(duration: str) -> str:
    return _number(parse_duration(duration) / 1000)


def service_selector(config: BundleConfig) -> str:
    """The selector's matchers on labels the recorded series keep (the service labels)."""
    identity = config.identity
    kept = [m.promql() for m in identity.matchers if m.label in identity.service_labels]
    return ", ".join(kept)


def recent_types(config: BundleConfig, window: str, extra_matchers: tuple[str, ...] = ()) -> str:
    """Per instance, the buffered error types last seen within ``window`` (absent when none)."""
    names = MetricNames(config.namespace)
    last_seen = selector(names.buffered_error_last_seen, config.identity.selector, *extra_matchers)
    return f"count without ({LABEL_MESSAGE}) (time() - {last_seen} < {_seconds(window)})"


def recording_rules(config: BundleConfig) -> list[dict[str, str]]:
    names = MetricNames(config.namespace)
    recorded = RecordedNames(names)
    identity = config.identity
    by_instance = ", ".join((*identity.service_labels, "instance"))
    by_service = ", ".join(identity.service_labels)
    total = selector(names.error_messages_total, identity.selector)
    return [
        {
            "record": recorded.instance_error_rate,
            "expr": f"sum by ({by_instance}) (rate({total}[{RATE_WINDOW}]))",
        },
        {
            "record": recorded.job_error_rate,
            "expr": f"sum by ({by_service}) "
                    f"({selector(recorded.instance_error_rate, service_selector(config))})",
        },
    ]


def alert_rules(config: BundleConfig) -> list[AlertRule]:
    """The five alerts, in the order they are written."""
    names = MetricNames(config.namespace)
    recorded = RecordedNames(names)
    identity = config.identity
    sel = identity.selector
    alerts = config.alerts
    types_high = alerts.error_types_high
    buffer_full = alerts.error_buffer_full
    rate_high = alerts.error_rate_high
    new_type = alerts.new_error_type
    last_seen = selector(names.buffered_error_last_seen, sel)
    by_message = ", ".join((*identity.service_labels, LABEL_MESSAGE))
    return [
        AlertRule(
            name=alert_name(config, ERROR_TYPES_HIGH),
            kind=ERROR_TYPES_HIGH,
            expr=f"{recent_types(config, types_high.window)} > {_number(types_high.threshold)}",
            settings=types_high,
            summary="Many distinct error types are being recorded.",
            description=(
                "{{ $labels.instance }} of job {{ $labels.job }} has recorded {{ $value }} distinct "
                f"error types in the last {types_high.window}, more than {_number(types_high.threshold)}, "
                f"for {types_high.for_}. Many types point to broad instability rather than one "
                "recurring issue."
            ),
        ),
        AlertRule(
            name=alert_name(config, ERROR_BUFFER_FULL),
            kind=ERROR_BUFFER_FULL,
            expr=(
                f"{recent_types(config, buffer_full.window)}"
                f" >= {selector(names.error_buffer_capacity, sel)}"
            ),
            settings=buffer_full,
            summary="The rolling error buffer is full of recent errors.",
            description=(
                "Every one of the {{ $value }} entries of the error buffer of {{ $labels.instance }} "
                f"(job {{{{ $labels.job }}}}) was seen in the last {buffer_full.window}, for "
                f"{buffer_full.for_}: errors are being recorded actively and older ones are being evicted."
            ),
        ),
        AlertRule(
            name=alert_name(config, ERROR_RATE_HIGH),
            kind=ERROR_RATE_HIGH,
            expr=f"{selector(recorded.job_error_rate, service_selector(config))}"
                 f" > {_number(rate_high.threshold)}",
            settings=rate_high,
            summary="Errors are being recorded at a high rate.",
            description=(
                "Job {{ $labels.job }} records {{ $value | humanize }} errors per second over the last "
                f"{RATE_WINDOW}, above {_number(rate_high.threshold)} for {rate_high.for_}."
            ),
        ),
        AlertRule(
            name=alert_name(config, ERROR_TRACKING_ABSENT),
            kind=ERROR_TRACKING_ABSENT,
            expr=f"absent({selector(names.error_messages_total, sel)})",
            settings=alerts.error_tracking_absent,
            summary="Error tracking metrics are missing.",
            description=(
                f"No {names.error_messages_total} series has matched {{{sel}}} for "
                f"{alerts.error_tracking_absent.for_}: the service is down, not scraped, or its error "
                "tracking is disabled."
            ),
        ),
        AlertRule(
            name=alert_name(config, NEW_ERROR_TYPE),
            kind=NEW_ERROR_TYPE,
            expr=(
                f"max by ({by_message}) ({last_seen})\n"
                f"unless\n"
                f"max by ({by_message}) "
                f"(max_over_time({last_seen}[{new_type.lookback}] offset {new_type.window}))"
            ),
            settings=new_type,
            summary="A new error type appeared.",
            description=(
                "Job {{ $labels.job }} shows an error it has not shown in the "
                f"{new_type.lookback} before: {{{{ $labels.{LABEL_MESSAGE} }}}}"
            ),
        ),
    ]


def rule_groups(config: BundleConfig) -> dict[str, Any]:
    """The rule file's content: a recording group, then an alerting group."""
    return {
        "groups": [
            {"name": recording_group(config), "rules": recording_rules(config)},
            {
                "name": alerting_group(config),
                "rules": [a.to_rule(config.alerts.runbook_url_base) for a in alert_rules(config)],
            },
        ]
    }


def render_rules(config: BundleConfig, command: str = "") -> str:
    """The rule file as YAML text (``command`` is the generation command the marker records)."""
    return to_yaml(rule_groups(config), command=command)


def recorded_series(config: BundleConfig) -> frozenset[str]:
    """Names of the series the recording rules write (the lint accepts them in queries)."""
    return RecordedNames(MetricNames(config.namespace)).all()
