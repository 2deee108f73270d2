"""The one configuration that drives every generated artifact of the bundle.

:class:`BundleConfig` is a frozen dataclass of small frozen sections. Every threshold,
``for`` duration, severity, name and interval the generators use is a field here, so a
value is changed in exactly one place. :func:`load_config` reads a YAML file with the
same shape (see ``bundle.example.yml``); unknown keys and bad values raise
:class:`ConfigError` naming the offending key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DEFAULT_BUFFER_CAPACITY
from ..names import DEFAULT_NAMESPACE, validate_namespace

SEVERITIES = ("critical", "warning", "info")

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1)
_LABEL_VALUE_FORBIDDEN = re.compile(r'["\\\n]')
_UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_GRAFANA_TIME_RE = re.compile(r"^now(?:[-+]\d+[smhdwMy])?(?:/[smhdwMy])?$")


class ConfigError(ValueError):
    """A configuration value is unknown, missing or invalid; the message names the key."""


def parse_duration(text: str, allow_zero: bool = False) -> int:
    """Milliseconds in a Prometheus duration such as ``1m`` or ``1h30m``; ``ValueError`` if invalid.

    ``0s`` is accepted only with ``allow_zero`` (an alert's ``for``: fire at once).
    """
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if not text or match is None:
        raise ValueError(f"must be a Prometheus duration such as 30s, 5m or 1h30m (got {text!r})")
    parts = zip(match.groups(), _DURATION_UNITS_MS, strict=True)
    total = sum(int(count) * unit for count, unit in parts if count)
    if total <= 0 and not (allow_zero and total == 0):
        raise ValueError(f"must be a positive duration (got {text!r})")
    return total


def format_duration(milliseconds: int) -> str:
    """The shortest Prometheus duration for ``milliseconds`` (``90000`` -> ``1m30s``)."""
    parts = []
    rest = milliseconds
    for suffix, unit in zip(("y", "w", "d", "h", "m", "s", "ms"), _DURATION_UNITS_MS, strict=True):
        count, rest = divmod(rest, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts) or "0s"


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (got {value!r})")
    return value


def _check_duration(name: str, value: str, allow_zero: bool = False) -> None:
    try:
        parse_duration(value, allow_zero=allow_zero)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def _check_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string (got {value!r})")


@dataclass(frozen=True)
class ThresholdSteps:
    """A stat panel's colour steps: green below ``yellow``, then yellow, orange, and red from ``red``."""

    yellow: float
    orange: float
    red: float

    def __post_init__(self) -> None:
        for name in ("yellow", "orange", "red"):
            _number(name, getattr(self, name))
        if not self.yellow < self.orange < self.red:
            raise ValueError(
                "thresholds must increase: yellow < orange < red "
                f"(got {self.yellow}, {self.orange}, {self.red})"
            )


@dataclass(frozen=True)
class PanelsConfig:
    """Colour thresholds of the three stat panels (the spec's values by default)."""

    total_error_count: ThresholdSteps = ThresholdSteps(yellow=5, orange=10, red=20)
    unique_error_types: ThresholdSteps = ThresholdSteps(yellow=2, orange=4, red=8)
    # Red is "buffer full": the library's default buffer capacity.
    buffered_error_messages: ThresholdSteps = ThresholdSteps(yellow=5, orange=8, red=DEFAULT_BUFFER_CAPACITY)


@dataclass(frozen=True)
class AlertSettings:
    """An alert without a numeric threshold: how long it must hold, and how severe it is."""

    for_: str = field(metadata={"key": "for"})
    severity: str

    def __post_init__(self) -> None:
        _check_duration("for", self.for_, allow_zero=True)
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)} (got {self.severity!r})")


@dataclass(frozen=True)
class ThresholdAlertSettings(AlertSettings):
    """An alert that fires while a value stays above ``threshold`` for ``for``."""

    threshold: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _number("threshold", self.threshold)


@dataclass(frozen=True)
class RecentTypesAlertSettings(ThresholdAlertSettings):
    """More than ``threshold`` buffered error types seen within the last ``window``."""

    window: str = "10m"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_duration("window", self.window)


@dataclass(frozen=True)
class BufferFullAlertSettings(AlertSettings):
    """Every buffered entry seen within the last ``window``: the buffer is full of current errors."""

    window: str = "10m"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_duration("window", self.window)


@dataclass(frozen=True)
class NewErrorTypeAlertSettings(AlertSettings):
    """A message the service has not shown in ``lookback``; the alert fires for ``window`` from then."""

    lookback: str = "24h"
    window: str = "15m"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_duration("lookback", self.lookback)
        _check_duration("window", self.window)
        if parse_duration(self.for_, allow_zero=True) >= parse_duration(self.window):
            raise ValueError(f"for ({self.for_}) must be shorter than window ({self.window}): "
                             "a new message stops being new after window")


@dataclass(frozen=True)
class AlertsConfig:
    """The five alerts, and where their runbooks live."""

    runbook_url_base: str = ""
    """When set, each alert's ``runbook_url`` is this base followed by the alert name in lower case;
    empty (the default): the alerts carry no ``runbook_url``."""
    error_types_high: RecentTypesAlertSettings = RecentTypesAlertSettings(
        for_="5m", severity="warning", threshold=5, window="10m"
    )
    """More than ``threshold`` distinct error types seen within ``window`` on an instance (the spec's
    error_rate_too_high)."""
    error_buffer_full: BufferFullAlertSettings = BufferFullAlertSettings(
        for_="1m", severity="warning", window="10m"
    )
    """The rolling buffer full of errors seen within ``window`` (the spec's error_buffer_full)."""
    error_rate_high: ThresholdAlertSettings = ThresholdAlertSettings(
        for_="5m", severity="critical", threshold=1.0
    )
    """A job records more than ``threshold`` errors per second, averaged over 5 minutes."""
    error_tracking_absent: AlertSettings = AlertSettings(for_="5m", severity="critical")
    """The job exposes no error metrics."""
    new_error_type: NewErrorTypeAlertSettings = NewErrorTypeAlertSettings(
        for_="0s", severity="warning", lookback="24h", window="15m"
    )
    """A message the job has not shown within ``lookback`` (Prometheus' own history)."""

    def __post_init__(self) -> None:
        base = self.runbook_url_base
        if not isinstance(base, str) or base != base.strip():
            raise ValueError(f"runbook_url_base must be a URL or empty (got {self.runbook_url_base!r})")
        if self.error_types_high.threshold < 0 or self.error_rate_high.threshold < 0:
            raise ValueError("alert thresholds must be >= 0")

    def all(self) -> dict[str, AlertSettings]:
        """Every alert's settings by config key, in the order the rules are written."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "runbook_url_base"
        }


@dataclass(frozen=True)
class DatasourceConfig:
    """The Prometheus datasource Grafana provisioning creates (the dashboard itself names none)."""

    uid: str = "prometheus"
    name: str = "Prometheus"

    def __post_init__(self) -> None:
        if not isinstance(self.uid, str) or not _UID_RE.match(self.uid):
            raise ValueError(f"uid must be 1-40 letters, digits, '-' or '_' (got {self.uid!r})")
        _check_text("name", self.name)


@dataclass(frozen=True)
class DashboardConfig:
    """Identity and defaults of the Grafana dashboard."""

    uid: str = ""
    """Empty: ``<name>-error-tracking``, from the service's name."""
    title: str = ""
    """Empty: ``<Name> Error Tracking``."""
    tags: tuple[str, ...] = ()
    """Empty: ``[<name>, error-tracking, prometheus]``."""
    refresh: str = "30s"
    time_from: str = "now-1h"
    time_to: str = "now"
    timezone: str = "browser"

    def __post_init__(self) -> None:
        if not isinstance(self.uid, str) or (self.uid and not _UID_RE.match(self.uid)):
            raise ValueError(f"uid must be 1-40 letters, digits, '-' or '_' (got {self.uid!r})")
        if not isinstance(self.title, str) or (self.title and not self.title.strip()):
            raise ValueError(f"title must be text, or empty for the default (got {self.title!r})")
        if not all(isinstance(tag, str) and tag for tag in self.tags):
            raise ValueError(f"tags must be non-empty strings (got {list(self.tags)!r})")
        _check_duration("refresh", self.refresh)
        for name in ("time_from", "time_to"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _GRAFANA_TIME_RE.match(value):
                raise ValueError(f"{name} must be a relative Grafana time such as now-1h (got {value!r})")
        _check_text("timezone", self.timezone)


@dataclass(frozen=True)
class PrometheusConfig:
    """How Prometheus scrapes the service and evaluates the rules."""

    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    metrics_path: str = "/metrics"

    def __post_init__(self) -> None:
        _check_duration("scrape_interval", self.scrape_interval)
        _check_duration("evaluation_interval", self.evaluation_interval)
        if not isinstance(self.metrics_path, str) or not self.metrics_path.startswith("/"):
            raise ValueError(f"metrics_path must start with '/' (got {self.metrics_path!r})")


@dataclass(frozen=True)
class AlertmanagerConfig:
    """Alertmanager's one route and its webhook receiver."""

    receiver: str = "demo-webhook"
    group_by: tuple[str, ...] = ("alertname", "job", "instance")
    group_wait: str = "10s"
    group_interval: str = "1m"
    repeat_interval: str = "4h"

    def __post_init__(self) -> None:
        _check_text("receiver", self.receiver)
        if not all(isinstance(label, str) and label for label in self.group_by):
            raise ValueError(f"group_by must be label names (got {list(self.group_by)!r})")
        for name in ("group_wait", "group_interval", "repeat_interval"):
            _check_duration(name, getattr(self, name))


Labels = tuple[tuple[str, str], ...]
"""A mapping of Kubernetes labels or annotations, kept as sorted pairs (a frozen config is hashable)."""

_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_K8S_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def _check_labels(name: str, pairs: Labels) -> None:
    for key, value in pairs:
        if not isinstance(key, str) or not _K8S_KEY_RE.match(key):
            raise ValueError(f"{name}: {key!r} is not a Kubernetes label or annotation key")
        if not isinstance(value, str):
            raise ValueError(f"{name}.{key} must be a string (quote numbers: \"1\"), got {value!r}")


@dataclass(frozen=True)
class KubernetesConfig:
    """The ``k8s/`` outputs: a prometheus-operator ``PrometheusRule``, a Grafana dashboard ``ConfigMap``."""

    namespace: str = ""
    """``metadata.namespace`` of both objects; empty: none (``kubectl apply -n NS`` decides)."""
    rule_labels: Labels = field(default=(), metadata={"mapping": True})
    """Labels of the PrometheusRule, e.g. ``{release: kube-prometheus-stack}`` for the operator's selector."""
    dashboard_labels: Labels = field(default=(("grafana_dashboard", "1"),), metadata={"mapping": True})
    """Labels of the ConfigMap: the Grafana sidecar loads ConfigMaps carrying ``grafana_dashboard: "1"``."""
    dashboard_annotations: Labels = field(default=(), metadata={"mapping": True})
    """Annotations of the ConfigMap, e.g. ``{grafana_folder: Services}`` for the sidecar's folder."""
    helm_escape: bool = False
    """Write ``{{`{{ ... }}`}}`` for every ``{{ ... }}``, so the files can sit in a Helm chart's templates."""

    def __post_init__(self) -> None:
        namespace = self.namespace
        if not isinstance(namespace, str) or (namespace and not _K8S_NAME_RE.match(namespace)):
            raise ValueError(f"namespace must be a Kubernetes namespace name or empty (got {namespace!r})")
        for name in ("rule_labels", "dashboard_labels", "dashboard_annotations"):
            _check_labels(name, getattr(self, name))
        if not isinstance(self.helm_escape, bool):
            raise ValueError(f"helm_escape must be true or false (got {self.helm_escape!r})")


# A PromQL label matcher: name, operator, double-quoted value (with backslash escapes).
_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\\n]|\\.)*)"\s*')
_ALERT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Matcher:
    """One label matcher of the service's selector."""

    label: str
    op: str
    value: str
    """The unescaped value (a regular expression for ``=~`` and ``!~``)."""

    def promql(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'


def parse_selector(text: str) -> tuple[Matcher, ...]:
    """The matchers of a selector string such as ``job="billing", env=~"prod|staging"``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"selector must be label matchers such as job=\"billing\" (got {text!r})")
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers = []
    position = 0
    while position < len(body):
        match = _MATCHER_RE.match(body, position)
        if match is None:
            raise ValueError(f"selector: cannot read a matcher at {body[position:]!r} "
                             f"(expected label=\"value\", label=~\"regex\", != or !~)")
        label, op, raw = match.groups()
        value = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), raw)
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                problem = f"selector: {label}{op}\"{raw}\" is not a valid regular expression ({exc})"
                raise ValueError(problem) from None
        matchers.append(Matcher(label, op, value))
        position = match.end()
        if position < len(body):
            if body[position] != ",":
                raise ValueError(f"selector: expected ',' between matchers at {body[position:]!r}")
            position += 1
    if not matchers:
        raise ValueError(f"selector has no matchers (got {text!r})")
    if all(m.op in ("!=", "!~") or (m.op == "=~" and re.fullmatch(m.value, "")) for m in matchers):
        raise ValueError(f"selector {text!r} matches every series: give at least one matcher that "
                         "needs a value, such as job=\"billing\"")
    return tuple(matchers)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]


@dataclass(frozen=True)
class Identity:
    """Everything that tells one service's bundle from another's: names, selector, prefix."""

    name: str
    """The service's name (``name``, else the job)."""
    slug: str
    """``name`` for file names, uids and group names: lower case letters, digits, ``-`` and ``_``."""
    job: str
    """The Prometheus ``job`` label value (the demo's scrape job; the selector's default)."""
    selector: str
    """PromQL matchers every rule and dashboard query carries: ``job="billing"`` by default."""
    matchers: tuple[Matcher, ...]
    alert_prefix: str
    """Prefix of every alert name: ``Billing`` gives ``BillingErrorTypesHigh``."""
    dashboard_uid: str
    dashboard_title: str
    dashboard_tags: tuple[str, ...]

    @property
    def stem(self) -> str:
        """The file-name stem: ``billing-error-tracking``."""
        return f"{self.slug}-error-tracking"

    @property
    def service_labels(self) -> tuple[str, ...]:
        """Labels that identify the service across restarts and deploys: ``job`` and the selector's."""
        labels = ["job"]
        for matcher in self.matchers:
            if matcher.label not in labels and matcher.label != "instance":
                labels.append(matcher.label)
        return tuple(labels)


@dataclass(frozen=True)
class BundleConfig:
    """Everything the dashboard, rules and provisioning generators read."""

    namespace: str = DEFAULT_NAMESPACE
    """Metric-name prefix the service's ``TrackerConfig(namespace=...)`` uses."""
    job: str = ""
    """Prometheus ``job`` label of the service; empty: the namespace (or the selector's ``job="..."``)."""
    selector: str = ""
    """Label matchers selecting the service's series, as monitoring mixins take them:
    ``job="billing", env="prod"``; empty: ``job="<job>"``."""
    name: str = ""
    """The service's name in file names, the dashboard's uid and title, rule group names; empty: the job."""
    alert_prefix: str = ""
    """Prefix of the alert names; empty: the name in CamelCase (``billing-api`` gives ``BillingApi``)."""
    buffer_capacity: int = DEFAULT_BUFFER_CAPACITY
    """The service's ``TrackerConfig.buffer_capacity``: rows of the "Last N Error Messages" table."""
    datasource: DatasourceConfig = DatasourceConfig()
    dashboard: DashboardConfig = DashboardConfig()
    panels: PanelsConfig = PanelsConfig()
    alerts: AlertsConfig = AlertsConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)
        if not isinstance(self.job, str) or _LABEL_VALUE_FORBIDDEN.search(self.job):
            raise ValueError(
                f"job must be a label value without quotes, backslashes or newlines (got {self.job!r})"
            )
        for key in ("selector", "name", "alert_prefix"):
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key} must be a string (got {getattr(self, key)!r})")
        if self.selector:
            parse_selector(self.selector)
        if self.alert_prefix and not _ALERT_NAME_RE.match(self.alert_prefix):
            raise ValueError(f"alert_prefix must match [A-Za-z_][A-Za-z0-9_]* (got {self.alert_prefix!r})")
        if self.name and not _words(self.name):
            raise ValueError(f"name must contain a letter or digit (got {self.name!r})")
        if isinstance(self.buffer_capacity, bool) or not isinstance(self.buffer_capacity, int) \
                or self.buffer_capacity < 1:
            raise ValueError(f"buffer_capacity must be an int >= 1 (got {self.buffer_capacity!r})")
        red = self.panels.buffered_error_messages.red
        if red > self.buffer_capacity:
            raise ValueError(
                f"panels.buffered_error_messages.red ({red:g}) is above buffer_capacity "
                f"({self.buffer_capacity}): a buffer never holds more than its capacity"
            )
        threshold = self.alerts.error_types_high.threshold
        if threshold >= self.buffer_capacity:
            raise ValueError(
                f"alerts.error_types_high.threshold ({threshold:g}) must be below buffer_capacity "
                f"({self.buffer_capacity}): the alert counts buffered error types, at most the capacity"
            )
        self.identity  # noqa: B018 - derive (and so validate) the identity now

    @property
    def identity(self) -> Identity:
        """The service's names, derived once from ``name``, ``job``, ``selector`` and ``namespace``."""
        cached = self.__dict__.get("_identity")
        if cached is None:
            cached = _derive_identity(self)
            object.__setattr__(self, "_identity", cached)
        return cached

    def with_overrides(self, namespace: str | None = None, job: str | None = None,
                       selector: str | None = None) -> BundleConfig:
        """A copy with ``--namespace``, ``--job`` and ``--selector`` applied (``None`` keeps a value)."""
        pairs = (("namespace", namespace), ("job", job), ("selector", selector))
        changes = {k: v for k, v in pairs if v is not None}
        return _checked(lambda: dataclasses.replace(self, **changes))

    def with_alert_for(self, duration: str) -> BundleConfig:
        """A copy whose every alert holds for ``duration`` (for end-to-end tests that cannot wait minutes)."""
        def make() -> BundleConfig:
            alerts = {name: dataclasses.replace(s, for_=duration) for name, s in self.alerts.all().items()}
            return dataclasses.replace(self, alerts=dataclasses.replace(self.alerts, **alerts))

        return _checked(make)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data with the YAML file's keys."""
        return _to_plain(self)


#: The Velostream demo's identity: the spec's names (``velostream-error-tracking``, ``Velo…`` alerts).
DEMO_JOB = "velostream"
DEMO_ALERT_PREFIX = "Velo"


def demo_config(base: BundleConfig | None = None) -> BundleConfig:
    """``base`` (default: the built-in values) with the demo's job and alert prefix, unless it sets them."""
    base = base or BundleConfig()
    return _checked(lambda: dataclasses.replace(
        base,
        job=base.job or (DEMO_JOB if not base.selector else ""),
        alert_prefix=base.alert_prefix or DEMO_ALERT_PREFIX,
    ))


def _derive_identity(config: BundleConfig) -> Identity:
    matchers = parse_selector(config.selector) if config.selector else ()
    selector_job = next((m.value for m in matchers if m.label == "job" and m.op == "="), "")
    job = config.job or selector_job or config.namespace
    if not matchers:
        matchers = (Matcher("job", "=", job),)
    name = config.name or job
    words = _words(name)
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "service"
    stem = f"{slug}-error-tracking"
    uid = config.dashboard.uid or stem
    if len(uid) > 40:  # Grafana's limit: keep it readable and unique
        uid = f"{stem[:31]}-{hashlib.sha1(stem.encode()).hexdigest()[:8]}"
    prefix = config.alert_prefix or "".join(w[:1].upper() + w[1:] for w in words)
    if not _ALERT_NAME_RE.match(prefix):
        prefix = f"S{prefix}"  # a name that starts with a digit
    return Identity(
        name=name,
        slug=slug,
        job=job,
        selector=", ".join(m.promql() for m in matchers),
        matchers=matchers,
        alert_prefix=prefix,
        dashboard_uid=uid,
        dashboard_title=config.dashboard.title or f"{' '.join(w[:1].upper() + w[1:] for w in words)} "
                                                  "Error Tracking",
        dashboard_tags=config.dashboard.tags or (slug, "error-tracking", "prometheus"),
    )


def _checked(make):
    try:
        return make()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {
            _key(f): dict(getattr(value, f.name)) if f.metadata.get("mapping")
            else _to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def _describe(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if typing.get_origin(tp) is tuple:
        return "a list of strings"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _convert(tp: Any, value: Any, path: str) -> Any:
    """``value`` from YAML as type ``tp``; raises :class:`ConfigError` naming ``path``."""
    if dataclasses.is_dataclass(tp):
        return _build(tp, {} if value is None else value, path)  # an empty section keeps its defaults
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: must be {_describe(tp)} (got {value!r})")
        return tuple(_convert(item_type, item, f"{path}[{i}]") for i, item in enumerate(value))
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }[tp](value)
    if not ok:
        raise ConfigError(f"{path}: must be {_describe(tp)} (got {value!r})")
    return value


def _mapping(value: Any, path: str) -> Labels:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{path}: must be a mapping of strings (quote numbers: \"1\"), got {value!r}")
    return tuple(sorted((str(k), v) for k, v in value.items()))


def _build(cls: type, data: Any, path: str) -> Any:
    where = f"{path}: " if path else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'the configuration '}must be a mapping (got {data!r})")
    hints = typing.get_type_hints(cls)
    fields = {_key(f): f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ConfigError(f"{where}unknown key {unknown[0]!r}; expected one of: {', '.join(fields)}")
    kwargs = {}
    for key, f in fields.items():
        if key in data and f.metadata.get("mapping"):
            kwargs[f.name] = _mapping(data[key], f"{path}.{key}" if path else key)
        elif key in data:
            kwargs[f.name] = _convert(hints[f.name], data[key], f"{path}.{key}" if path else key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if path in _DEFAULT_SECTIONS:  # a partially given section keeps its defaults
                continue
            raise ConfigError(f"{where}missing key {key!r}")
    try:
        if path in _DEFAULT_SECTIONS:
            return dataclasses.replace(_DEFAULT_SECTIONS[path], **kwargs)
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{where}{exc}") from None


# Sections whose defaults are instances (an alert's defaults, a panel's thresholds): a YAML
# file may give only some of their keys, and the rest keep the default instance's values.
_DEFAULT_SECTIONS: dict[str, Any] = {
    **{f"panels.{f.name}": f.default for f in dataclasses.fields(PanelsConfig)},
    **{
        f"alerts.{f.name}": f.default
        for f in dataclasses.fields(AlertsConfig)
        if dataclasses.is_dataclass(f.default)
    },
}


def config_from_dict(data: dict[str, Any] | None) -> BundleConfig:
    """A :class:`BundleConfig` from plain data shaped like the YAML file (``None`` gives the defaults)."""
    return _build(BundleConfig, {} if data is None else data, "")


def load_config(path: str | Path | None) -> BundleConfig:
    """Read a YAML configuration file; ``None`` gives the defaults."""
    if path is None:
        return BundleConfig()
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
