"""Prometheus recording and alerting rules, in the style of the Prometheus monitoring mixins.

Recording rules compute the error rate once (per instance, then per job); the dashboard's
rate series and ``VeloErrorRateHigh`` read them. Alerts select the configured job, carry a
``severity`` label, a static ``summary`` ending in a period, a templated ``description`` and
a ``runbook_url``. Every threshold, ``for`` and severity comes from the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..names import MetricNames
from .config import AlertSettings, BundleConfig
from .output import to_yaml
from .promql import RATE_WINDOW, RecordedNames, equals, selector

RULES_FILE = "velostream-error-tracking.rules.yml"
#: Matches every rule file in the alerts folder (and not the unit tests in alerts/tests/).
RULE_FILE_GLOB = "*.rules.yml"
RECORDING_GROUP = "velo-error-tracking.rules"
ALERTING_GROUP = "velo-error-tracking.alerts"

# The alerts' names, in the monitoring mixins' CamelCase with the Velo prefix.
ERROR_TYPES_HIGH = "VeloErrorTypesHigh"
ERROR_BUFFER_FULL = "VeloErrorBufferFull"
ERROR_RATE_HIGH = "VeloErrorRateHigh"
ERROR_TRACKING_ABSENT = "VeloErrorTrackingAbsent"


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule before it is written as YAML."""

    name: str
    expr: str
    settings: AlertSettings
    summary: str
    description: str

    def labels(self) -> dict[str, str]:
        return {"severity": self.settings.severity}

    def to_rule(self, runbook_url_base: str) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.settings.for_,
            "labels": self.labels(),
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": runbook_url_base + self.name.lower(),
            },
        }


def _number(value: float) -> str:
    """A threshold as PromQL and humans write it (``5``, not ``5.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def recording_rules(config: BundleConfig) -> list[dict[str, str]]:
    names = MetricNames(config.namespace)
    recorded = RecordedNames(names)
    return [
        {
            "record": recorded.instance_error_rate,
            "expr": f"sum by (job, instance) (rate({names.error_messages_total}[{RATE_WINDOW}]))",
        },
        {
            "record": recorded.job_error_rate,
            "expr": f"sum by (job) ({recorded.instance_error_rate})",
        },
    ]


def alert_rules(config: BundleConfig) -> list[AlertRule]:
    """The four alerts, in the order they are written."""
    names = MetricNames(config.namespace)
    recorded = RecordedNames(names)
    job = equals("job", config.job)
    alerts = config.alerts
    types_high = alerts.error_types_high
    rate_high = alerts.error_rate_high
    return [
        AlertRule(
            name=ERROR_TYPES_HIGH,
            expr=f"{selector(names.unique_error_types, job)} > {_number(types_high.threshold)}",
            settings=types_high,
            summary="Many distinct error types are being recorded.",
            description=(
                "{{ $labels.instance }} of job {{ $labels.job }} has recorded {{ $value }} distinct "
                f"error types, more than {_number(types_high.threshold)} for {types_high.for_}. Many types "
                "point to broad instability rather than one recurring issue."
            ),
        ),
        AlertRule(
            name=ERROR_BUFFER_FULL,
            expr=(
                f"{selector(names.buffered_error_messages, job)}"
                f" >= {selector(names.error_buffer_capacity, job)}"
            ),
            settings=alerts.error_buffer_full,
            summary="The rolling error buffer is full.",
            description=(
                "The error buffer of {{ $labels.instance }} (job {{ $labels.job }}) has held "
                "{{ $value }} distinct messages, its full capacity, for "
                f"{alerts.error_buffer_full.for_}: errors are being recorded actively and older "
                "ones are being evicted."
            ),
        ),
        AlertRule(
            name=ERROR_RATE_HIGH,
            expr=f"{selector(recorded.job_error_rate, job)} > {_number(rate_high.threshold)}",
            settings=rate_high,
            summary="Errors are being recorded at a high rate.",
            description=(
                "Job {{ $labels.job }} records {{ $value | humanize }} errors per second over the last "
                f"{RATE_WINDOW}, above {_number(rate_high.threshold)} for {rate_high.for_}."
            ),
        ),
        AlertRule(
            name=ERROR_TRACKING_ABSENT,
            expr=f"absent({selector(names.error_messages_total, job)})",
            settings=alerts.error_tracking_absent,
            summary="Error tracking metrics are missing.",
            description=(
                f"Job {{{{ $labels.job }}}} has exposed no {names.error_messages_total} series for "
                f"{alerts.error_tracking_absent.for_}: the service is down, not scraped, or its error "
                "tracking is disabled."
            ),
        ),
    ]


def rule_groups(config: BundleConfig) -> dict[str, Any]:
    """The rule file's content: a recording group, then an alerting group."""
    return {
        "groups": [
            {"name": RECORDING_GROUP, "rules": recording_rules(config)},
            {
                "name": ALERTING_GROUP,
                "rules": [a.to_rule(config.alerts.runbook_url_base) for a in alert_rules(config)],
            },
        ]
    }


def render_rules(config: BundleConfig) -> str:
    """The rule file as YAML text."""
    return to_yaml(rule_groups(config))


def recorded_series(config: BundleConfig) -> frozenset[str]:
    """Names of the series the recording rules write (the lint accepts them in queries)."""
    return RecordedNames(MetricNames(config.namespace)).all()
