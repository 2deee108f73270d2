"""End to end: real Prometheus scrapes the real demo app; every panel query of the generated dashboard
returns data that agrees with the app's own JSON view; no scrubbed secret reaches Prometheus.

The app starts paused, so Prometheus first sees the counter at zero; then it records errors of
every kind, pauses again, and the queries are evaluated at the timestamp of Prometheus' last
scrape. Then ``increase()`` over ``$__range`` needs no extrapolation and equals the app's total.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import pytest

from tests.servers import http, wait_until
from tests.support import PROJECT_ROOT
from tracker.bundle.config import parse_duration
from tracker.bundle.dashboard import DASHBOARD_FILE
from tracker.demo.scenario import NORMAL_ERROR_TYPES, SECRET_FRAGMENTS
from tracker.names import MetricNames

DASHBOARD = json.loads((PROJECT_ROOT / DASHBOARD_FILE).read_text(encoding="utf-8"))
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_REGEX_SPECIAL = re.compile(r"([$^*{}\[\]'+?.()|])")


def panels():
    for panel in DASHBOARD["panels"]:
        yield from panel.get("panels", [])  # rows, if any
        if panel.get("type") != "row":
            yield panel


def panel_by_title(title):
    return next(p for p in panels() if p["title"] == title)


def template(name):
    return next(t for t in DASHBOARD["templating"]["list"] if t["name"] == name)


def grafana_multi_value(name, values):
    """A multi-value variable as Grafana's Prometheus datasource writes it into a query."""
    if values == "All":
        return template(name)["allValue"]
    escaped = [_REGEX_SPECIAL.sub(r"\\\\\1", v.replace("\\", "\\\\\\\\")) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


@dataclass
class GrafanaQuery:
    """The variables Grafana substitutes for one dashboard time range and variable selection."""

    job: str
    instance: str
    range_seconds: int
    interval_seconds: int
    scrape_interval_seconds: int

    @property
    def rate_interval_seconds(self) -> int:
        # Grafana: max($__interval + scrape interval, 4 * scrape interval).
        return max(self.interval_seconds + self.scrape_interval_seconds, 4 * self.scrape_interval_seconds)

    def render(self, expr: str) -> str:
        values = {
            "datasource": "prometheus",
            "job": self.job,
            "instance": self.instance,
            "__range": f"{self.range_seconds}s",
            "__range_s": str(self.range_seconds),
            "__interval": f"{self.interval_seconds}s",
            "__rate_interval": f"{self.rate_interval_seconds}s",
        }

        def replace(match):
            name = next(g for g in match.groups() if g)
            assert name in values, f"the dashboard uses a variable the test does not know: ${name}"
            return values[name]

        rendered = _VARIABLE.sub(replace, expr)
        assert "$" not in rendered, rendered
        return rendered


@dataclass
class Settled:
    """The app's JSON view and the time of Prometheus' last scrape, both after the workload paused."""

    view: dict
    at: float
    range_seconds: int


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(app_options=["--paused", "--seed", "12", "--queries-per-second", "40",
                                      "--error-rate", "0.5"])


@pytest.fixture(scope="module")
def names(stack):
    return MetricNames(stack.config.namespace)


@pytest.fixture(scope="module")
def settled(stack, names):
    prom, job = stack.prometheus, stack.config.identity.job
    total = f'{names.error_messages_total}{{job="{job}"}}'
    unique = f'{names.unique_error_types}{{job="{job}"}}'
    stack.wait_scraped()
    wait_until(lambda: prom.scalar(total) == 0.0, 30, "a first scrape with no error recorded")
    stack.app_post("/resume")
    # A few scrapes while the workload runs, with errors of every kind.
    wait_until(lambda: (prom.scalar(unique) or 0) >= NORMAL_ERROR_TYPES and prom.scalar(total) >= 60, 60,
               stack.diagnostics("Prometheus to see errors of every kind"))
    stack.app_post("/pause")
    view = stack.errors()
    wait_until(lambda: prom.scalar(total) == view["total_errors"], 30,
               "Prometheus to scrape the paused app's final total")
    final_scrape = prom.scalar(f"timestamp({total})")
    # Later scrapes and rule evaluations; the dashboard's end ("now") is the latest scrape, so
    # increase() over $__range needs no extrapolation at either end.
    at = wait_until(lambda: (t := prom.scalar(f"timestamp({total})")) > final_scrape + 2 and t, 30,
                    "later scrapes and rule evaluations")
    range_seconds = math.ceil(at - stack.started_at) + 10  # covers every sample, back to the first zero
    assert stack.errors() == view, "the paused app recorded more errors"
    return Settled(view, at, range_seconds)


SELECTIONS = ["all", "chosen"]


@pytest.fixture(params=SELECTIONS)
def grafana(request, stack, settled):
    if request.param == "all":
        job, instance = grafana_multi_value("job", "All"), grafana_multi_value("instance", "All")
    else:
        job = grafana_multi_value("job", [stack.config.identity.job])
        instance = grafana_multi_value("instance", [stack.instance])
    return GrafanaQuery(job, instance, settled.range_seconds, interval_seconds=1, scrape_interval_seconds=1)


def run_target(stack, settled, grafana, target):
    """The target's query as Grafana sends it: instant at the dashboard's end, or over its range."""
    expr = grafana.render(target["expr"])
    if target.get("instant") and not target.get("range"):
        return "instant", stack.prometheus.query(expr, at=settled.at)
    start = settled.at - settled.range_seconds
    return "range", stack.prometheus.query_range(expr, start, settled.at, grafana.interval_seconds)


def last_value(series):
    return float(series["values"][-1][1])


def test_prometheus_scrapes_the_app(stack):
    stack.wait_scraped()
    targets = stack.prometheus.api("targets")["activeTargets"]
    assert [(t["labels"]["job"], t["labels"]["instance"], t["health"]) for t in targets] == [
        (stack.config.identity.job, stack.instance, "up")
    ]


def test_template_variables_offer_the_job_and_instance(stack, settled, names):
    service = stack.config.identity.selector
    job_query = template("job")["query"]
    assert job_query == f"label_values({names.error_messages_total}{{{service}}}, job)"
    match = f"{names.error_messages_total}{{{service}}}"
    jobs = stack.prometheus.api("label/job/values", **{"match[]": match})
    assert jobs == [stack.config.identity.job]
    selector = f'{names.error_messages_total}{{{service}, job=~"{stack.config.identity.job}"}}'
    instance_query = f'label_values({names.error_messages_total}{{{service}, job=~"$job"}}, instance)'
    assert template("instance")["query"] == instance_query
    instances = stack.prometheus.api("label/instance/values", **{"match[]": selector})
    assert instances == [stack.instance]


def test_every_query_of_every_panel_returns_data(stack, settled, grafana):
    queried = 0
    for panel in panels():
        for target in panel.get("targets", []):
            kind, result = run_target(stack, settled, grafana, target)
            assert result, f"{panel['title']} {target['refId']} ({kind}) returned no data: " \
                           f"{grafana.render(target['expr'])}"
            queried += 1
    assert queried >= 8


def test_stat_panels_agree_with_the_apps_json_view(stack, settled, grafana):
    view = settled.view

    def stat(title):
        targets = panel_by_title(title)["targets"]
        assert len(targets) == 1
        kind, result = run_target(stack, settled, grafana, targets[0])
        assert len(result) == 1, result
        # The panels reduce with lastNotNull.
        return float(result[0]["value"][1]) if kind == "instant" else last_value(result[0])

    assert stat("Total Error Count") == view["total_errors"] > 0
    unique = stat("Unique Error Types")
    buffered = stat("Buffered Error Messages")
    # The recent situation: buffered messages last seen within the alerts' windows (all of them,
    # the workload has just paused), not every type since start.
    recent = recent_entries(stack, settled)
    assert recent and len(recent) == len(view["entries"]) == view["buffered_errors"]
    assert unique == len({e["message"] for e in recent})
    assert buffered == len(recent) <= view["buffer_capacity"]
    assert view["unique_errors"] >= NORMAL_ERROR_TYPES


def test_table_rows_are_the_buffered_errors(stack, settled, grafana):
    view = settled.view
    table = next(p for p in panels() if p["type"] == "table")
    results = {t["refId"]: run_target(stack, settled, grafana, t) for t in table["targets"]}
    occurrences = {r["metric"]["message"]: float(r["value"][1]) for r in results["A"][1]}
    last_seen_ms = {r["metric"]["message"]: float(r["value"][1]) for r in results["B"][1]}
    assert len(results["A"][1]) == view["buffered_errors"] <= view["buffer_capacity"]
    assert occurrences == {e["message"]: e["count"] for e in view["entries"]}
    assert set(last_seen_ms) == set(occurrences)
    for entry in view["entries"]:
        assert last_seen_ms[entry["message"]] == pytest.approx(entry["last_seen"] * 1000, abs=1)


def recent_entries(stack, settled):
    window = parse_duration(stack.config.alerts.error_types_high.window) / 1000
    return [e for e in settled.view["entries"] if settled.at - e["last_seen"] < window]


def test_time_series_panels_agree_and_never_go_negative(stack, settled, grafana):
    series_panels = [p for p in panels() if p["type"] == "timeseries"]
    assert len(series_panels) == 2
    for panel in series_panels:
        for target in panel["targets"]:
            _, result = run_target(stack, settled, grafana, target)
            values = [float(v) for series in result for _, v in series["values"]]
            assert values and min(values) >= 0, (panel["title"], target["refId"], values)
    (types_target,) = panel_by_title("Error Types Over Time")["targets"]
    _, result = run_target(stack, settled, grafana, types_target)
    assert [last_value(s) for s in result] == [len(recent_entries(stack, settled))]
    rates = panel_by_title("Error Tracking Over Time")["targets"]
    _, per_instance = run_target(stack, settled, grafana, rates[0])
    assert max(float(v) for s in per_instance for _, v in s["values"]) > 0  # errors per second while running


def test_no_scrubbed_secret_reaches_prometheus(stack, settled, names):
    prom, job = stack.prometheus, stack.config.identity.job
    start, end = settled.at - settled.range_seconds, settled.at + 1
    series = prom.api("series", **{"match[]": f'{{job="{job}"}}', "start": start, "end": end})
    assert series
    messages = {s["message"] for s in series if "message" in s}
    assert any("Authentication failed" in m for m in messages), messages  # the failures are there
    seen = [json.dumps(series)]
    label_names = prom.api("labels", start=start, end=end)
    for label in label_names:
        seen.append(json.dumps(prom.api(f"label/{label}/values", start=start, end=end)))
    seen.append(json.dumps(prom.query(f'{{job="{job}"}}', at=settled.at)))
    seen.append(json.dumps(prom.api("rules")))
    seen.append(json.dumps(prom.api("alerts")))
    seen.append(http("GET", f"{stack.app_url}/metrics")[1].decode())
    seen.append(http("GET", f"{stack.app_url}/errors")[1].decode())
    everything = "\n".join(seen)
    for secret in SECRET_FRAGMENTS:
        assert secret not in everything, f"a secret reached Prometheus or the app's endpoints: {secret}"
