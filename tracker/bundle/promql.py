"""Small PromQL text builders shared by the dashboard and the rules, and the recorded series' names."""

from __future__ import annotations

from ..names import MetricNames

#: Range of the recording rules' rates; the alert "over 5 minutes" and the rule names say it.
RATE_WINDOW = "5m"

#: Matchers every dashboard selector carries (the ``job`` and ``instance`` template variables).
DASHBOARD_MATCHERS = ('job=~"$job"', 'instance=~"$instance"')


def selector(metric: str, *matchers: str) -> str:
    """``metric{m1, m2}``, or the bare name when there are no matchers."""
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def equals(label: str, value: str) -> str:
    """An equality matcher with ``value`` quoted for PromQL."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{label}="{escaped}"'


class RecordedNames:
    """Names of the series the recording rules write, for one namespace.

    Level, metric and operation follow Prometheus' ``level:metric:operations`` convention;
    the metric part is the counter's name without ``_total``.
    """

    def __init__(self, names: MetricNames) -> None:
        base = names.error_messages_total.removesuffix("_total")
        self.instance_error_rate = f"instance:{base}:rate{RATE_WINDOW}"
        """Errors per second of each instance (labels ``job``, ``instance``)."""
        self.job_error_rate = f"job:{base}:rate{RATE_WINDOW}"
        """Errors per second of each job, summed over its instances (label ``job``)."""

    def all(self) -> frozenset[str]:
        return frozenset((self.instance_error_rate, self.job_error_rate))
