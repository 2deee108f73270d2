"""The generated dashboard: Grafana's schemas, the current model, the spec's panels, portability."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft7Validator

from tests.support import PROJECT_ROOT, require_shared
from tracker.bundle.commands import PACKAGED_SCHEMA_DIR
from tracker.bundle.config import BundleConfig, ThresholdSteps, demo_config
from tracker.bundle.dashboard import DASHBOARD_FILE, build_dashboard, dashboard_file, grafanalib_dashboard
from tracker.bundle.generate import demo_generation
from tracker.bundle.grafana_model import (
    IMPORT_ONLY_KEYS,
    LEGACY_DASHBOARD_KEYS,
    LEGACY_PANEL_KEYS,
    LEGACY_TARGET_KEYS,
    MIN_GRAFANA_VERSION,
    SCHEMA_VERSION,
)
from tracker.bundle.schema import validate_dashboard
from tracker.config import DEFAULT_BUFFER_CAPACITY
from tracker.names import MetricNames

PANEL_SCHEMAS = {
    "stat": "stat.jsonschema.json",
    "timeseries": "timeseries.jsonschema.json",
    "table": "table.jsonschema.json",
}


@pytest.fixture(scope="module")
def dashboard():
    return build_dashboard(demo_config(), demo_generation().command)


@pytest.fixture(scope="module")
def committed():
    return json.loads((PROJECT_ROOT / DASHBOARD_FILE).read_text(encoding="utf-8"))


def panel(dashboard, title):
    (found,) = [p for p in dashboard["panels"] if p["title"] == title]
    return found


def schema(name):
    return json.loads((PACKAGED_SCHEMA_DIR / name).read_text(encoding="utf-8"))


def test_the_shipped_schemas_are_grafanas_unchanged_with_their_license():
    shared = require_shared("grafana-schemas")
    names = [*PANEL_SCHEMAS.values(), "dashboard.jsonschema.json", "prometheus.jsonschema.json", "LICENSE"]
    for name in names:
        assert (PACKAGED_SCHEMA_DIR / name).read_bytes() == (shared / name).read_bytes(), name
    note = (PACKAGED_SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    assert "grafana/grafana-foundation-sdk" in note and "Apache License 2.0" in note


def definition(schema_doc, name):
    return Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": schema_doc["definitions"]})


def messages(validator, instance):
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def test_the_committed_file_is_the_built_dashboard(dashboard, committed):
    assert committed == dashboard


def test_the_whole_dashboard_validates_against_grafanas_schema(committed):
    validator = Draft7Validator(schema("dashboard.jsonschema.json"))
    # Import-only keys (__requires) are read by Grafana's import, and are not part of the model.
    assert [m for m in messages(validator, committed) if "'__requires'" in m]
    model = {k: v for k, v in committed.items() if k not in IMPORT_ONLY_KEYS}
    assert messages(validator, model) == []


@pytest.mark.parametrize("panel_type", sorted(PANEL_SCHEMAS))
def test_each_panels_options_and_custom_field_config_validate(committed, panel_type):
    doc = schema(PANEL_SCHEMAS[panel_type])
    panels = [p for p in committed["panels"] if p["type"] == panel_type]
    assert panels
    for p in panels:
        assert messages(definition(doc, "Options"), p["options"]) == [], p["title"]
        if "FieldConfig" in doc["definitions"]:
            custom = p["fieldConfig"]["defaults"]["custom"]
            assert messages(definition(doc, "FieldConfig"), custom) == [], p["title"]


def test_each_target_validates_against_the_prometheus_query_schema(committed):
    validator = Draft7Validator(schema("prometheus.jsonschema.json"))
    targets = [t for p in committed["panels"] for t in p["targets"]]
    assert len(targets) == 8
    for target in targets:
        assert messages(validator, target) == [], target["expr"]


def test_the_project_schema_validator_agrees(committed):
    schema_dir = require_shared("grafana-schemas")
    assert validate_dashboard(committed, schema_dir) == []
    broken = json.loads(json.dumps(committed))
    broken["style"] = "dark"
    broken["panels"][0]["options"]["graphMode"] = "sparkline"
    broken["panels"][3]["targets"][0]["step"] = 10
    problems = validate_dashboard(broken, schema_dir)
    assert any("style" in p for p in problems)
    assert any("options/graphMode" in p for p in problems)
    assert any("target 0" in p and "step" in p for p in problems)


def test_grafanalib_output_needed_the_post_processing():
    built = grafanalib_dashboard(BundleConfig())
    raw = json.loads(json.dumps(built.to_json_data(), default=lambda o: o.to_json_data()))
    assert {"rows", "style", "sharedCrosshair", "hideControls"} <= raw.keys()
    assert raw["schemaVersion"] < 39


def test_current_model_without_legacy_keys(dashboard):
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == "velostream-error-tracking"
    assert dashboard["title"] == "Velostream Error Tracking"
    assert not set(LEGACY_DASHBOARD_KEYS) & dashboard.keys()
    for p in dashboard["panels"]:
        assert not set(LEGACY_PANEL_KEYS) & p.keys(), p["title"]
        for target in p["targets"]:
            assert not set(LEGACY_TARGET_KEYS) & target.keys()
    text = json.dumps(dashboard)
    assert "null" not in text.replace('"value": null', "")  # only a threshold's base step is null


def test_no_hard_coded_datasource_anywhere(dashboard):
    refs, uids = [], []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource":
                    refs.append(value)
                if key == "uid":
                    uids.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    panels_and_targets = len(dashboard["panels"]) + sum(len(p["targets"]) for p in dashboard["panels"])
    assert len(refs) >= panels_and_targets
    assert all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs)
    # The only uids: the dashboard's own, and the datasource variable.
    assert set(uids) == {dashboard["uid"], "${datasource}"}
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["name"] == "datasource" and variable["query"] == "prometheus"
    assert "current" not in variable  # Grafana picks the instance's default Prometheus


@pytest.mark.parametrize("name", ["job", "instance"])
def test_job_and_instance_variables(dashboard, name):
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    assert variable["type"] == "query"
    assert variable["datasource"]["uid"] == "${datasource}"
    assert variable["multi"] is True and variable["includeAll"] is True
    assert variable["allValue"] == ".+"
    assert variable["refresh"] == 2  # on time range change
    metric = MetricNames().error_messages_total
    assert variable["query"].startswith(f'label_values({metric}{{job="velostream"')


def test_every_selector_filters_on_job_and_instance(dashboard):
    for p in dashboard["panels"]:
        for target in p["targets"]:
            selectors = re.findall(r"[a-z_:]+\{[^}]*\}", target["expr"])
            assert selectors, target["expr"]
            for selector in selectors:
                assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, selector
                assert selector.split("{")[1].startswith('job="velostream", '), selector  # the service


def test_the_spec_panels_in_order_with_unit_and_description(dashboard):
    assert [(p["type"], p["title"]) for p in dashboard["panels"]] == [
        ("stat", "Total Error Count"),
        ("stat", "Unique Error Types"),
        ("stat", "Buffered Error Messages"),
        ("timeseries", "Error Tracking Over Time"),
        ("timeseries", "Error Types Over Time"),
        ("table", "Last 10 Error Messages"),
    ]
    for p in dashboard["panels"]:
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        assert len(p["description"]) > 80, p["title"]
    positions = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in dashboard["panels"]]
    assert len(set(positions)) == 6


def unit(dashboard, title):
    return panel(dashboard, title)["fieldConfig"]["defaults"]["unit"]


def test_units_say_what_the_numbers_are(dashboard):
    assert unit(dashboard, "Total Error Count") == "suffix: errors"
    assert unit(dashboard, "Unique Error Types") == "suffix: types"
    assert unit(dashboard, "Buffered Error Messages") == "suffix: messages"
    assert unit(dashboard, "Error Tracking Over Time") == "suffix: errors/s"
    assert unit(dashboard, "Error Types Over Time") == "suffix: types"
    assert all(p["fieldConfig"]["defaults"]["unit"] != "short" for p in dashboard["panels"])


def test_no_two_unlike_quantities_share_an_axis(dashboard):
    # Rates (errors per second) and counts (types) live in separate panels with one unit each.
    rates = panel(dashboard, "Error Tracking Over Time")["targets"]
    assert all("rate(" in t["expr"] or ":rate5m" in t["expr"] for t in rates)
    types = panel(dashboard, "Error Types Over Time")["targets"]
    assert all("count by" in t["expr"] and "rate" not in t["expr"] for t in types)
    for p in dashboard["panels"]:
        assert p["fieldConfig"]["overrides"] == [], p["title"]


def test_requires_names_the_grafana_version_of_its_schema_version_and_every_panel(dashboard):
    requires = {(r["type"], r["id"]): r["version"] for r in dashboard["__requires"]}
    assert dashboard["schemaVersion"] == SCHEMA_VERSION == 39
    assert requires[("grafana", "grafana")] == MIN_GRAFANA_VERSION == "10.4.0"
    assert ("datasource", "prometheus") in requires
    assert {i for t, i in requires if t == "panel"} == {p["type"] for p in dashboard["panels"]}
    assert "__requires" in IMPORT_ONLY_KEYS


def test_links_to_the_other_error_tracking_dashboards_and_runbooks_only_when_set(dashboard):
    (link,) = dashboard["links"]
    assert link["type"] == "dashboards" and link["tags"] == ["error-tracking"]
    with_runbooks = BundleConfig(namespace="billing").to_dict()
    with_runbooks["alerts"]["runbook_url_base"] = "https://wiki.example.com/runbooks/"
    from tracker.bundle.config import config_from_dict

    links = build_dashboard(config_from_dict(with_runbooks))["links"]
    assert [lk["url"] for lk in links if lk["type"] == "link"] == ["https://wiki.example.com/runbooks/"]


def test_stat_panels_show_the_recent_situation(dashboard):
    types = panel(dashboard, "Unique Error Types")
    buffered = panel(dashboard, "Buffered Error Messages")
    for p in (types, buffered):
        (target,) = p["targets"]
        assert "time() - velo_buffered_error_last_seen_timestamp_seconds{" in target["expr"]
        assert "< 600" in target["expr"] and target["expr"].endswith("or vector(0)")
        assert "in the last 10m" in p["description"]
    assert "velo_unique_error_types" not in json.dumps(dashboard)  # a total since start never fades


def test_two_services_get_their_own_uid_title_and_file():
    billing, orders = BundleConfig(namespace="billing"), BundleConfig(namespace="orders")
    built = [build_dashboard(c) for c in (billing, orders)]
    assert [d["uid"] for d in built] == ["billing-error-tracking", "orders-error-tracking"]
    assert [d["title"] for d in built] == ["Billing Error Tracking", "Orders Error Tracking"]
    assert dashboard_file(billing) != dashboard_file(orders)
    assert dashboard_file(demo_config()) == DASHBOARD_FILE


def steps(p):
    return [(s["color"], s["value"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Total Error Count", [("green", None), ("yellow", 5), ("orange", 10), ("red", 20)]),
        ("Unique Error Types", [("green", None), ("yellow", 2), ("orange", 4), ("red", 8)]),
        ("Buffered Error Messages", [("green", None), ("yellow", 5), ("orange", 8), ("red", 10)]),
    ],
)
def test_stat_thresholds_are_exactly_the_specs(dashboard, title, expected):
    p = panel(dashboard, title)
    assert steps(p) == expected
    assert p["fieldConfig"]["defaults"]["thresholds"]["mode"] == "absolute"
    assert p["fieldConfig"]["defaults"]["color"] == {"mode": "thresholds"}


def test_buffered_red_is_the_library_capacity(dashboard):
    assert steps(panel(dashboard, "Buffered Error Messages"))[-1] == ("red", DEFAULT_BUFFER_CAPACITY)


def test_thresholds_follow_the_config():
    config = demo_config()
    panels = config.panels.__class__(total_error_count=ThresholdSteps(1, 2, 3.5))
    built = build_dashboard(config.__class__(panels=panels))
    assert steps(panel(built, "Total Error Count"))[1:] == [("yellow", 1), ("orange", 2), ("red", 3.5)]


def test_total_error_count_is_the_increase_over_the_range_summed(dashboard):
    (target,) = panel(dashboard, "Total Error Count")["targets"]
    assert target["instant"] is True
    assert "sum(increase(velo_error_messages_total{" in target["expr"]
    assert target["expr"].endswith("[$__range])))")


def test_over_time_shows_the_rate_per_instance_and_job_and_the_types_beside_it(dashboard):
    p = panel(dashboard, "Error Tracking Over Time")
    exprs = {t["refId"]: t["expr"] for t in p["targets"]}
    assert "rate(velo_error_messages_total{" in exprs["A"] and "[$__rate_interval]" in exprs["A"]
    assert "by (job, instance)" in exprs["A"]
    assert exprs["C"].startswith("sum by (job) (instance:velo_error_messages:rate5m{")
    assert all(t["range"] and not t["instant"] for t in p["targets"])
    (types,) = panel(dashboard, "Error Types Over Time")["targets"]
    assert types["expr"].startswith("count by (job, instance) (time() - velo_buffered_error_last_seen")


def test_last_errors_table_rows_columns_and_order(dashboard):
    p = panel(dashboard, "Last 10 Error Messages")
    exprs = {t["refId"]: t for t in p["targets"]}
    assert all(t["format"] == "table" and t["instant"] for t in exprs.values())
    assert "velo_buffered_error_occurrences{" in exprs["A"]["expr"]
    assert "velo_buffered_error_last_seen_timestamp_seconds{" in exprs["B"]["expr"]
    assert "topk(10," in exprs["B"]["expr"]
    ids = [t["id"] for t in p["transformations"]]
    assert ids == ["merge", "organize", "convertFieldType", "sortBy"]
    organize = p["transformations"][1]["options"]
    assert organize["excludeByName"] == {"Time": True, "__name__": True, "job": True}
    renamed = organize["renameByName"]
    order = sorted(organize["indexByName"], key=organize["indexByName"].get)
    assert [renamed[c] for c in order] == ["Error Message", "Occurrence Count", "Last Seen", "Instance"]
    conversion = p["transformations"][2]["options"]["conversions"][0]
    assert conversion == {"targetField": "Last Seen", "destinationType": "time"}
    assert p["transformations"][3]["options"]["sort"] == [{"field": "Last Seen", "desc": True}]
    assert p["options"]["sortBy"] == [{"displayName": "Last Seen", "desc": True}]


def test_another_namespace_changes_every_metric_name():
    built = json.dumps(build_dashboard(BundleConfig(namespace="myapp")))
    assert "myapp_error_messages_total" in built
    assert "instance:myapp_error_messages:rate5m" in built
    assert not re.search(r"\bvelo_[a-z]", built)
