"""The Grafana dashboard, built with grafanalib from the bundle config.

Layout (24 columns)::

    y=0   | Total Error Count (8) | Unique Error Types (8) | Buffered Error Messages (8) |
    y=5   | Error Tracking Over Time (24)                                                |
    y=14  | Last 10 Error Messages (24)                                                  |

Every panel and target reads the ``datasource`` variable; every selector carries
``job=~"$job"`` and ``instance=~"$instance"``. :func:`build_dashboard` returns the final
JSON model (grafanalib's output passed through :mod:`tracker.bundle.grafana_model`).
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

from ..names import MetricNames
from .config import BundleConfig, ThresholdSteps
from .grafana_model import to_current_model
from .output import to_json
from .promql import DASHBOARD_MATCHERS, RATE_WINDOW, RecordedNames, selector

DASHBOARD_FILE = "dashboards/velostream-error-tracking.json"

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


@dataclass(frozen=True)
class _Queries:
    """The dashboard's PromQL, for one namespace."""

    names: MetricNames

    def sel(self, metric: str) -> str:
        return selector(metric, *DASHBOARD_MATCHERS)

    @property
    def recorded(self) -> RecordedNames:
        return RecordedNames(self.names)

    def errors_in_range(self) -> str:
        # Rounded: increase() extrapolates, and a count of errors reads best as a whole number.
        return f"round(sum(increase({self.sel(self.names.error_messages_total)}[$__range])))"

    def unique_types(self) -> str:
        return f"max({self.sel(self.names.unique_error_types)})"

    def buffered(self) -> str:
        return f"max({self.sel(self.names.buffered_error_messages)})"

    def errors_per_interval(self) -> str:
        errors = self.sel(self.names.error_messages_total)
        return f"sum by (job, instance) (increase({errors}[$__rate_interval]))"

    def unique_types_by_instance(self) -> str:
        return f"max by (job, instance) ({self.sel(self.names.unique_error_types)})"

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
          sparkline: bool) -> Stat:
    return Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target],
        gridPos=GridPos(h=STAT_HEIGHT, w=8, x=x, y=0),
        format="short",
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
        ),
        _stat(
            "Unique Error Types",
            f"Distinct error message types recorded since start or reset ({names.unique_error_types}); "
            "with several instances selected, the highest count among them (types cannot be "
            "de-duplicated across instances). Many types point to system instability, a single type "
            "to one recurring issue. " + _colours(panels.unique_error_types),
            _target(q.unique_types(), "A", "unique types"),
            panels.unique_error_types,
            x=8,
            sparkline=True,
        ),
        _stat(
            "Buffered Error Messages",
            f"Distinct recent error messages held in the rolling buffer ({names.buffered_error_messages}, "
            f"capacity {config.buffer_capacity}); with several instances selected, the fullest buffer. "
            "A full buffer means errors are being generated actively. "
            + _colours(panels.buffered_error_messages),
            _target(q.buffered(), "A", "buffered"),
            panels.buffered_error_messages,
            x=16,
            sparkline=True,
        ),
    ]


def _over_time(q: _Queries) -> TimeSeries:
    return TimeSeries(
        title="Error Tracking Over Time",
        description=(
            "Per instance: errors recorded in each interval (the increase of "
            f"{q.names.error_messages_total} over $__rate_interval) and distinct error types "
            f"({q.names.unique_error_types}). Per job: the error rate in errors per second over "
            f"{RATE_WINDOW}, summed over the selected instances from the "
            f"{q.recorded.instance_error_rate} recording rule (load the bundle's alert rules into "
            "Prometheus). Shows error trends and sudden spikes."
        ),
        dataSource=DATASOURCE,
        targets=[
            _target(q.errors_per_interval(), "A", "errors · {{instance}}"),
            _target(q.unique_types_by_instance(), "B", "unique types · {{instance}}"),
            _target(q.error_rate_by_job(), "C", "errors/s · {{job}}"),
        ],
        gridPos=GridPos(h=SERIES_HEIGHT, w=24, x=0, y=STAT_HEIGHT),
        unit="short",
        axisLabel="count",
        valueMin=0,
        fillOpacity=10,
        showPoints="never",
        legendDisplayMode="table",
        legendPlacement="right",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=[Threshold("green", 0, 0.0)],
        maxDataPoints=None,
    )


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
        unit="short",  # the occurrence count: the only numeric column once Last Seen is a time
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
        Template(name="job", label="Job", query=f"label_values({metric}, job)", **common),
        Template(
            name="instance",
            label="Instance",
            query=f"label_values({selector(metric, DASHBOARD_MATCHERS[0])}, instance)",
            **common,
        ),
    ]


def grafanalib_dashboard(config: BundleConfig) -> Dashboard:
    """The dashboard as grafanalib objects, before :mod:`.grafana_model` modernises it."""
    q = _Queries(MetricNames(config.namespace))
    settings = config.dashboard
    return Dashboard(
        title=settings.title,
        uid=settings.uid,
        description=(
            "Error tracking of services instrumented with velo-tracker: errors recorded, distinct "
            "types, the rolling buffer of recent messages. Generated by `velo-tracker generate`."
        ),
        tags=list(settings.tags),
        timezone=settings.timezone,
        refresh=settings.refresh,
        time=Time(settings.time_from, settings.time_to),
        timePicker=TimePicker(refreshIntervals=REFRESH_INTERVALS, timeOptions=[]),
        graphTooltip=GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        templating=Templating(list=_variables(q)),
        panels=[*_stats(config, q), _over_time(q), _last_errors(config, q)],
    ).auto_panel_ids()


def build_dashboard(config: BundleConfig) -> dict[str, Any]:
    """The final dashboard JSON model (what ``dashboards/velostream-error-tracking.json`` holds)."""
    return to_current_model(grafanalib_dashboard(config))


def render_dashboard(config: BundleConfig) -> str:
    return to_json(build_dashboard(config))
