"""The Grafana dashboard, built with grafanalib from the bundle config.

Layout (24 columns)::

    y=0   | Total Error Count (8) | Unique Error Types (8) | Buffered Error Messages (8) |
    y=5   | Error Tracking Over Time (12)       | Error Types Over Time (12)             |
    y=14  | Last 10 Error Messages (24)                                                  |

Every panel and target reads the ``datasource`` variable; every selector carries the
service's selector, ``job=~"$job"`` and ``instance=~"$instance"``. The stat panels show the
recent situation (types and buffered entries seen within the alerts' windows), so a one-off
burst fades. :func:`build_dashboard` returns the final JSON model (grafanalib's output passed
through :mod:`tracker.bundle.grafana_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafanalib.core import (
    GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
    REFRESH_ON_DASHBOARD_LOAD,
    REFRESH_ON_TIME_RANGE_CHANGE,
    SORT_ALPHA_ASC,
    Dashboard,
    GridPos,
    Stat,
    Table,
    TableSortByField,
    Target,
    Template,
    Templating,
    Threshold,
    Time,
    TimePicker,
    TimeSeries,
)

from ..names import LABEL_MESSAGE, MetricNames
from .config import BundleConfig, ThresholdSteps, parse_duration
from .grafana_model import import_requirements, to_current_model
from .output import marker_line, to_json
from .promql import DASHBOARD_MATCHERS, RATE_WINDOW, RecordedNames, selector

#: The demo's dashboard (``velo-tracker generate --demo``); other services' follow their name.
DASHBOARD_FILE = "dashboards/velostream-error-tracking.json"
DASHBOARDS_DIR = "dashboards"

# Units: Grafana's custom "suffix:" units say what is counted.
UNIT_ERRORS = "suffix: errors"
UNIT_TYPES = "suffix: types"
UNIT_ENTRIES = "suffix: messages"
UNIT_ERRORS_PER_SECOND = "suffix: errors/s"
UNIT_OCCURRENCES = "suffix: ×"


def dashboard_file(config: BundleConfig) -> str:
    """The dashboard's path in the bundle: ``dashboards/<name>-error-tracking.json``."""
    return f"{DASHBOARDS_DIR}/{config.identity.stem}.json"

#: Every panel and target uses the dashboard's datasource variable, never a fixed uid.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
ALL_VALUE = ".+"
REFRESH_INTERVALS = ["10s", "30s", "1m", "5m", "15m", "30m", "1h"]

STAT_HEIGHT = 5
SERIES_HEIGHT = 9
TABLE_HEIGHT = 10

# Table columns, after the organize transformation renames them.
COLUMN_MESSAGE = "Error Message"
COLUMN_OCCURRENCES = "Occurrence Count"
COLUMN_LAST_SEEN = "Last Seen"
COLUMN_INSTANCE = "Instance"


def _seconds(duration: str) -> str:
    seconds = parse_duration(duration) / 1000
    return str(int(seconds)) if seconds.is_integer() else str(seconds)


@dataclass(frozen=True)
class _Queries:
    """The dashboard's PromQL, for one service."""

    names: MetricNames
    service: str
    """The service's selector (``job="billing"``), carried by every query."""
    types_window: str
    buffer_window: str

    def sel(self, metric: str) -> str:
        return selector(metric, self.service, *DASHBOARD_MATCHERS)

    def _recent(self, window: str) -> str:
        return f"time() - {self.sel(self.names.buffered_error_last_seen)} < {_seconds(window)}"

    @property
    def recorded(self) -> RecordedNames:
        return RecordedNames(self.names)

    def errors_in_range(self) -> str:
        # Rounded: increase() extrapolates, and a count of errors reads best as a whole number.
        return f"round(sum(increase({self.sel(self.names.error_messages_total)}[$__range])))"

    def unique_types(self) -> str:
        # Each message once, whichever instances show it; 0 rather than "No data" when quiet.
        recent = self._recent(self.types_window)
        return f"count(count by ({LABEL_MESSAGE}) ({recent})) or vector(0)"

    def buffered(self) -> str:
        recent = self._recent(self.buffer_window)
        return f"max(count without ({LABEL_MESSAGE}) ({recent})) or vector(0)"

    def errors_per_second(self) -> str:
        errors = self.sel(self.names.error_messages_total)
        return f"sum by (job, instance) (rate({errors}[$__rate_interval]))"

    def types_by_instance(self) -> str:
        return f"count by (job, instance) ({self._recent(self.types_window)})"

    def error_rate_by_job(self) -> str:
        return f"sum by (job) ({self.sel(self.recorded.instance_error_rate)})"

    def _newest(self, limit: int) -> str:
        last_seen = f"max by (job, instance, message) ({self.sel(self.names.buffered_error_last_seen)})"
        return f"topk({limit}, {last_seen})"

    def buffered_occurrences(self, limit: int) -> str:
        occurrences = f"max by (job, instance, message) ({self.sel(self.names.buffered_error_occurrences)})"
        return f"{occurrences} and on (job, instance, message) {self._newest(limit)}"

    def buffered_last_seen_ms(self, limit: int) -> str:
        # Grafana's time units read milliseconds since the epoch.
        return f"1000 * {self._newest(limit)}"


def _target(expr: str, ref_id: str, legend: str = "", instant: bool = False, table: bool = False) -> Target:
    return Target(
        expr=expr,
        refId=ref_id,
        legendFormat=legend,
        instant=instant,
        format="table" if table else "time_series",
        datasource=DATASOURCE,
    )


def _steps(steps: ThresholdSteps) -> list[Threshold]:
    return [
        Threshold("green", 0, 0.0),
        Threshold("yellow", 1, float(steps.yellow)),
        Threshold("orange", 2, float(steps.orange)),
        Threshold("red", 3, float(steps.red)),
    ]


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _colours(steps: ThresholdSteps) -> str:
    return (
        f"Green below {_n(steps.yellow)}, yellow from {_n(steps.yellow)}, "
        f"orange from {_n(steps.orange)}, red from {_n(steps.red)}."
    )


def _stat(title: str, description: str, target: Target, steps: ThresholdSteps, x: int,
          sparkline: bool, unit: str) -> Stat:
    return Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target],
        gridPos=GridPos(h=STAT_HEIGHT, w=8, x=x, y=0),
        format=unit,
        decimals=0,
        reduceCalc="lastNotNull",
        graphMode="area" if sparkline else "none",
        colorMode="background",
        textMode="value",
        color={"mode": "thresholds"},
        thresholds=_steps(steps),
        noValue=None,
        maxDataPoints=None,
    )


def _stats(config: BundleConfig, q: _Queries) -> list[Stat]:
    names = q.names
    panels = config.panels
    return [
        _stat(
            "Total Error Count",
            f"Errors recorded in the selected time range: the increase of {names.error_messages_total} "
            "over the range, summed over the selected instances (a tracking reset restarts the counter "
            "and is accounted for). Tracks overall error frequency. "
            + _colours(panels.total_error_count),
            _target(q.errors_in_range(), "A", "errors", instant=True),
            panels.total_error_count,
            x=0,
            sparkline=False,
            unit=UNIT_ERRORS,
        ),
        _stat(
            "Unique Error Types",
            f"Distinct error types seen in the last {q.types_window} (buffered messages whose "
            f"{names.buffered_error_last_seen} is that recent), counted once across the selected "
            "instances; the sparkline shows the same count over time. Many types point to system "
            "instability, a single type to one recurring issue; a burst fades once it is older than "
            f"{q.types_window}. " + _colours(panels.unique_error_types),
            _target(q.unique_types(), "A", "types"),
            panels.unique_error_types,
            x=8,
            sparkline=True,
            unit=UNIT_TYPES,
        ),
        _stat(
            "Buffered Error Messages",
            f"Entries of the rolling buffer (capacity {config.buffer_capacity}) seen in the last "
            f"{q.buffer_window}; with several instances selected, the fullest buffer. A buffer full of "
            "recent errors means errors are being generated actively; entries older than "
            f"{q.buffer_window} are not counted, so a one-off burst fades. "
            + _colours(panels.buffered_error_messages),
            _target(q.buffered(), "A", "buffered"),
            panels.buffered_error_messages,
            x=16,
            sparkline=True,
            unit=UNIT_ENTRIES,
        ),
    ]


def _timeseries(title: str, description: str, targets: list[Target], x: int, unit: str,
                axis_label: str) -> TimeSeries:
    return TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=targets,
        gridPos=GridPos(h=SERIES_HEIGHT, w=12, x=x, y=STAT_HEIGHT),
        unit=unit,
        axisLabel=axis_label,
        valueMin=0,
        fillOpacity=10,
        showPoints="never",
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=[Threshold("green", 0, 0.0)],
        maxDataPoints=None,
    )


def _over_time(q: _Queries) -> list[TimeSeries]:
    return [
        _timeseries(
            "Error Tracking Over Time",
            "Errors per second: per instance, the rate of "
            f"{q.names.error_messages_total} over $__rate_interval; per job, the rate over "
            f"{RATE_WINDOW} summed over the selected instances, from the "
            f"{q.recorded.instance_error_rate} recording rule (load the bundle's rules into "
            "Prometheus). Shows error trends and sudden spikes.",
            [
                _target(q.errors_per_second(), "A", "{{instance}}"),
                _target(q.error_rate_by_job(), "C", "job {{job}}"),
            ],
            x=0,
            unit=UNIT_ERRORS_PER_SECOND,
            axis_label="errors per second",
        ),
        _timeseries(
            "Error Types Over Time",
            f"Per instance, the distinct error types seen in the {q.types_window} before each point "
            f"(buffered messages whose {q.names.buffered_error_last_seen} is that recent): how broad "
            "the trouble is, next to how much of it there is.",
            [_target(q.types_by_instance(), "A", "{{instance}}")],
            x=12,
            unit=UNIT_TYPES,
            axis_label="error types",
        ),
    ]


def _last_errors(config: BundleConfig, q: _Queries) -> Table:
    limit = config.buffer_capacity
    return Table(
        title=f"Last {limit} Error Messages",
        description=(
            "One row per error message in the rolling buffers of the selected instances, newest first: "
            f"the message, how often it occurred ({q.names.buffered_error_occurrences}), when it was last "
            f"seen ({q.names.buffered_error_last_seen}) and on which instance; the {limit} most recently "
            "seen across the selection. Quick reference for the most recent errors."
        ),
        dataSource=DATASOURCE,
        targets=[
            _target(q.buffered_occurrences(limit), "A", instant=True, table=True),
            _target(q.buffered_last_seen_ms(limit), "B", instant=True, table=True),
        ],
        gridPos=GridPos(h=TABLE_HEIGHT, w=24, x=0, y=STAT_HEIGHT + SERIES_HEIGHT),
        unit=UNIT_OCCURRENCES,  # the occurrence count: the only numeric column once Last Seen is a time
        filterable=True,
        transformations=[
            # Join the two instant queries' rows on their labels (job, instance, message, Time).
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "__name__": True, "job": True},
                    "indexByName": {"message": 0, "Value #A": 1, "Value #B": 2, "instance": 3},
                    "renameByName": {
                        "message": COLUMN_MESSAGE,
                        "Value #A": COLUMN_OCCURRENCES,
                        "Value #B": COLUMN_LAST_SEEN,
                        "instance": COLUMN_INSTANCE,
                    },
                },
            },
            # Milliseconds since the epoch become a time column, shown as a date in the
            # dashboard's time zone (field overrides are avoided: the schema rejects scalar values).
            {
                "id": "convertFieldType",
                "options": {
                    "conversions": [{"targetField": COLUMN_LAST_SEEN, "destinationType": "time"}],
                    "fields": {},
                },
            },
            {"id": "sortBy", "options": {"fields": {}, "sort": [{"field": COLUMN_LAST_SEEN, "desc": True}]}},
        ],
        sortBy=[TableSortByField(displayName=COLUMN_LAST_SEEN, desc=True)],
        maxDataPoints=None,
    )


def _variables(q: _Queries) -> list[Template]:
    metric = q.names.error_messages_total
    common = {
        "dataSource": DATASOURCE,
        "type": "query",
        "multi": True,
        "includeAll": True,
        "allValue": ALL_VALUE,
        "refresh": REFRESH_ON_TIME_RANGE_CHANGE,
        "sort": SORT_ALPHA_ASC,
    }
    return [
        Template(
            name="datasource",
            label="Data source",
            type="datasource",
            query="prometheus",
            refresh=REFRESH_ON_DASHBOARD_LOAD,
            sort=0,
        ),
        Template(name="job", label="Job", query=f"label_values({selector(metric, q.service)}, job)",
                 **common),
        Template(
            name="instance",
            label="Instance",
            query=f"label_values({selector(metric, q.service, DASHBOARD_MATCHERS[0])}, instance)",
            **common,
        ),
    ]


def grafanalib_dashboard(config: BundleConfig, command: str = "") -> Dashboard:
    """The dashboard as grafanalib objects, before :mod:`.grafana_model` modernises it."""
    identity = config.identity
    q = _Queries(MetricNames(config.namespace), identity.selector,
                 config.alerts.error_types_high.window, config.alerts.error_buffer_full.window)
    settings = config.dashboard
    return Dashboard(
        title=identity.dashboard_title,
        uid=identity.dashboard_uid,
        description=(
            f"Error tracking of {identity.name} ({identity.selector}), instrumented with velo-tracker: "
            "errors recorded, distinct types, the rolling buffer of recent messages.\n\n"
            + marker_line(command)
        ),
        tags=list(identity.dashboard_tags),
        timezone=settings.timezone,
        refresh=settings.refresh,
        time=Time(settings.time_from, settings.time_to),
        timePicker=TimePicker(refreshIntervals=REFRESH_INTERVALS, timeOptions=[]),
        graphTooltip=GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        templating=Templating(list=_variables(q)),
        panels=[*_stats(config, q), *_over_time(q), _last_errors(config, q)],
    ).auto_panel_ids()


def _links(config: BundleConfig) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = [{
        "title": "Error tracking",
        "type": "dashboards",
        "tags": ["error-tracking"],
        "asDropdown": True,
        "includeVars": False,
        "keepTime": True,
        "targetBlank": False,
        "icon": "external link",
        "tooltip": "Other services' error-tracking dashboards",
        "url": "",
    }]
    if config.alerts.runbook_url_base:
        links.append({
            "title": "Runbooks",
            "type": "link",
            "url": config.alerts.runbook_url_base,
            "tags": [],
            "asDropdown": False,
            "includeVars": False,
            "keepTime": False,
            "targetBlank": True,
            "icon": "doc",
            "tooltip": "What to do when an error-tracking alert fires",
        })
    return links


def build_dashboard(config: BundleConfig, command: str = "") -> dict[str, Any]:
    """The final dashboard JSON model (what ``dashboards/<name>-error-tracking.json`` holds)."""
    model = to_current_model(grafanalib_dashboard(config, command))
    model["links"] = _links(config)
    model["__requires"] = import_requirements(model)
    return model


def render_dashboard(config: BundleConfig, command: str = "") -> str:
    return to_json(build_dashboard(config, command))
