"""The one place that turns grafanalib's output into the current Grafana dashboard JSON model.

grafanalib 0.7.1 writes a model from Grafana 6-8 days: ``schemaVersion`` 12, legacy keys
(``rows``, ``style``, ``sharedCrosshair``, ``hideControls``, per-panel ``span``/``height``/
``editable``/``error``, Graphite-era target keys), nulls for unset options, and threshold
steps with graph-panel fields; and it lacks options that current panel plugins require
(stat's ``wideLayout``/``showPercentChange``/``percentChangeColorMode``, the legend's
``showLegend``, table cells' ``inspect`` and ``cellOptions``, a target's ``range``).

:func:`to_current_model` fixes all of that in one pass, and nothing else in the bundle
edits the dashboard after grafanalib: what a panel shows is decided in
:mod:`tracker.bundle.dashboard`, how the JSON is shaped is decided here. The result
validates against Grafana's JSON Schemas (``dashboard``, and each panel plugin's
``Options``/``FieldConfig``; ``prometheus`` for targets).
"""

from __future__ import annotations

import json
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard

#: Grafana 10.4 and later load this model without migrating it (schema default is 42).
SCHEMA_VERSION = 39
#: The first Grafana release whose dashboards have :data:`SCHEMA_VERSION` (``__requires`` names it).
MIN_GRAFANA_VERSION = "10.4.0"

#: Top-level keys the current model dropped (``__inputs``/``gnetId`` are import-only,
#: ``id``/``version`` belong to one Grafana instance, not to a portable file).
LEGACY_DASHBOARD_KEYS = (
    "rows", "style", "sharedCrosshair", "hideControls", "__inputs", "gnetId", "id", "version",
)
LEGACY_TIMEPICKER_KEYS = ("time_options",)
#: Panel keys of the old graph/singlestat/table-old panels.
LEGACY_PANEL_KEYS = (
    "editable", "error", "height", "span", "minSpan", "fontSize", "columns", "color", "mappings",
)
LEGACY_TEMPLATE_KEYS = ("useTags", "tagsQuery", "tagValuesQuery")
INTERVAL_TEMPLATE_KEYS = ("auto", "auto_min", "auto_count")
#: Graphite-era or deprecated target keys grafanalib always writes.
LEGACY_TARGET_KEYS = ("query", "target", "metric", "step", "intervalFactor")

#: Options a current panel plugin requires and grafanalib does not write, by panel type.
REQUIRED_OPTIONS: dict[str, dict[str, Any]] = {
    "stat": {"wideLayout": True, "showPercentChange": False, "percentChangeColorMode": "standard"},
    "table": {
        "frameIndex": 0,
        "cellHeight": "sm",
        "footer": {"show": False, "reducer": ["sum"], "countRows": False},
    },
}
REQUIRED_CUSTOM: dict[str, dict[str, Any]] = {
    "table": {"inspect": False},
    "timeseries": {"stacking": {"mode": "none", "group": "A"}},
}


def _prune_nulls(value: Any) -> Any:
    """Drop ``None`` values: grafanalib writes null for every unset option."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _drop(mapping: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        mapping.pop(key, None)


def _fill(mapping: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Set each default that is missing or empty, recursing into nested mappings."""
    for key, default in defaults.items():
        current = mapping.get(key)
        if isinstance(default, dict) and isinstance(current, dict) and current:
            _fill(current, default)
        elif current in (None, {}, ""):
            mapping[key] = json.loads(json.dumps(default))


def _threshold_steps(steps: list[Any]) -> list[dict[str, Any]]:
    """Steps as ``{color, value}``; grafanalib writes the base step's value as the string "null"."""
    result = []
    for step in steps:
        value = step.get("value")
        if value in (None, "null"):
            value = None
        elif float(value).is_integer():
            value = int(value)  # grafanalib insists on floats; 5 reads better than 5.0
        result.append({"color": step["color"], "value": value})
    return result


def _target(target: dict[str, Any]) -> dict[str, Any]:
    _drop(target, LEGACY_TARGET_KEYS)
    if not target.get("interval"):
        target.pop("interval", None)
    instant = bool(target.get("instant", False))
    target["instant"] = instant
    target["range"] = not instant
    target.setdefault("editorMode", "code")
    return target


def _panel(panel: dict[str, Any]) -> dict[str, Any]:
    _drop(panel, LEGACY_PANEL_KEYS)
    panel_type = panel["type"]
    if not panel.get("repeat"):
        _drop(panel, ("repeat", "repeatDirection", "maxPerRow"))
    if not panel.get("transformations"):
        panel.pop("transformations", None)
    field_config = panel.setdefault("fieldConfig", {})
    field_config.setdefault("overrides", [])
    defaults = field_config.setdefault("defaults", {})
    thresholds = defaults.get("thresholds")
    if thresholds is not None:
        thresholds["steps"] = _threshold_steps(thresholds.get("steps") or [])
        if not thresholds["steps"]:
            del defaults["thresholds"]
    if not defaults.get("mappings"):
        defaults.pop("mappings", None)
    custom = defaults.setdefault("custom", {})
    if panel_type == "table":
        # Deprecated in favour of cellOptions, which is left out: Grafana's default is "auto",
        # and the schema's oneOf cannot tell {"type": "auto"} from the other cell kinds.
        custom.pop("displayMode", None)
    _fill(custom, REQUIRED_CUSTOM.get(panel_type, {}))
    options = panel.setdefault("options", {})
    _fill(options, REQUIRED_OPTIONS.get(panel_type, {}))
    legend = options.get("legend")
    if isinstance(legend, dict):
        legend.setdefault("showLegend", legend.get("displayMode") != "hidden")
    panel["targets"] = [_target(t) for t in panel.get("targets", [])]
    return panel


def _template(template: dict[str, Any]) -> dict[str, Any]:
    _drop(template, LEGACY_TEMPLATE_KEYS)
    if template.get("type") != "interval":
        _drop(template, INTERVAL_TEMPLATE_KEYS)
    current = template.get("current")
    if not isinstance(current, dict) or current.get("value") in (None, ""):
        template.pop("current", None)
    else:
        template["current"] = {"text": current["text"], "value": current["value"]}
    if template.get("type") == "query" and isinstance(template.get("query"), str):
        template.setdefault("definition", template["query"])
    if template.get("allValue") is None:
        template.pop("allValue", None)
    return template


def import_requirements(model: dict[str, Any]) -> list[dict[str, str]]:
    """``__requires``: what Grafana's import checks before loading the file (an import-only key,
    not part of the dashboard schema): Grafana's version, the Prometheus datasource, each panel type."""
    requires = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": MIN_GRAFANA_VERSION},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
    ]
    for panel_type in sorted({p["type"] for p in model.get("panels", [])}):
        requires.append({"type": "panel", "id": panel_type, "name": panel_type.title(), "version": ""})
    return requires


#: Keys Grafana reads when importing a file, which the dashboard schema does not include.
IMPORT_ONLY_KEYS = ("__requires", "__inputs", "__elements")


def to_current_model(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as current Grafana JSON: what every generated dashboard goes through."""
    model = _prune_nulls(json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder)))
    _drop(model, LEGACY_DASHBOARD_KEYS)
    _drop(model.get("timepicker", {}), LEGACY_TIMEPICKER_KEYS)
    model["schemaVersion"] = SCHEMA_VERSION
    model["panels"] = [_panel(p) for p in model.get("panels", [])]
    templating = model.setdefault("templating", {})
    templating["list"] = [_template(t) for t in templating.get("list", [])]
    model.setdefault("annotations", {"list": []})
    return model
