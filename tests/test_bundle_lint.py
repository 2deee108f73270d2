"""The dashboard lint passes on the generated dashboard, and each rule bites on a broken one."""

from __future__ import annotations

import copy
import json

import pytest

from tests.support import PROJECT_ROOT
from tracker.bundle.config import BundleConfig, demo_config
from tracker.bundle.dashboard import DASHBOARD_FILE, build_dashboard
from tracker.bundle.lint import RULES, lint_dashboard, lint_for_config
from tracker.names import MetricNames

CONFIG = demo_config()
GOOD = build_dashboard(CONFIG, "velo-tracker generate --demo")
SEL = '{job=~"$job", instance=~"$instance"}'


def variable(d, name):
    (found,) = [v for v in d["templating"]["list"] if v["name"] == name]
    return found


def first_target(d, title="Error Tracking Over Time"):
    (p,) = [p for p in d["panels"] if p["title"] == title]
    return p["targets"][0]


def set_expr(expr, title="Error Tracking Over Time"):
    def mutate(d):
        first_target(d, title)["expr"] = expr
    return mutate


def drop_datasource_variable(d):
    d["templating"]["list"] = [v for v in d["templating"]["list"] if v["type"] != "datasource"]


def fixed_panel_datasource(d):
    d["panels"][1]["datasource"] = {"type": "prometheus", "uid": "prometheus"}


def fixed_target_datasource(d):
    d["panels"][1]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "PBFA97CFB590B2093"}


def single_job(d):
    variable(d, "job")["multi"] = False


def job_on_load_only(d):
    variable(d, "job")["refresh"] = 1


def instance_all_is_star(d):
    variable(d, "instance")["allValue"] = "*"


def no_instance_variable(d):
    d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "instance"]


def no_description(d):
    del d["panels"][2]["description"]


def no_unit(d):
    del d["panels"][0]["fieldConfig"]["defaults"]["unit"]


def made_up_unit(d):
    d["panels"][0]["fieldConfig"]["defaults"]["unit"] = "errors"


def no_targets(d):
    d["panels"][2]["targets"] = []


BROKEN = {
    "template-datasource": [drop_datasource_variable],
    "template-job": [single_job, job_on_load_only],
    "template-instance": [instance_all_is_star],
    "panel-datasource": [fixed_panel_datasource, fixed_target_datasource],
    "panel-title-description": [no_description],
    "panel-units": [no_unit, made_up_unit],
    "panel-no-targets": [no_targets],
    "target-promql": [
        set_expr(f"sum(rate(velo_error_messages_total{SEL}[$__rate_interval])"),
        set_expr('max(velo_unique_error_types{job=~"$job", instance=~"$instance", message=~"$nope"})'),
    ],
    "target-rate-interval": [
        set_expr(f"sum(rate(velo_error_messages_total{SEL}[5m]))"),
        set_expr(f"sum(irate(velo_error_messages_total{SEL}[$__interval]))"),
        set_expr(f"sum(increase(velo_error_messages_total{SEL}[1h]))"),
    ],
    "target-job": [
        set_expr('max(velo_unique_error_types{instance=~"$instance"})'),
        set_expr('max(velo_unique_error_types{job="velostream", instance=~"$instance"})'),
    ],
    "target-instance": [
        set_expr('max(velo_unique_error_types{job=~"$job"})'),
        set_expr(f'max(velo_unique_error_types{SEL}) / max(velo_error_buffer_capacity{{job=~"$job"}})'),
    ],
    "target-counter-agg": [
        set_expr(f"sum(velo_error_messages_total{SEL})"),
        set_expr(f"sum(max_over_time(velo_error_messages_total{SEL}[$__rate_interval]))"),
        set_expr(f"sum(rate(velo_sql_query_duration_seconds_sum{SEL}[$__rate_interval])) "
                 f"/ sum(velo_sql_query_duration_seconds_count{SEL})"),
    ],
    "target-metric-known": [
        set_expr(f"max(velo_unique_error_kinds{SEL})"),
        set_expr(f"max(myapp_unique_error_types{SEL})"),
        set_expr('max({__name__=~"velo_.+", job=~"$job", instance=~"$instance"})'),
    ],
}


def test_every_rule_has_a_deliberately_broken_dashboard():
    assert set(BROKEN) == set(RULES)


def test_the_generated_dashboard_passes_every_rule():
    assert lint_for_config(GOOD, CONFIG) == []


def test_the_committed_dashboard_passes_every_rule():
    committed = json.loads((PROJECT_ROOT / DASHBOARD_FILE).read_text(encoding="utf-8"))
    assert lint_for_config(committed, CONFIG) == []


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [(rule, mutate) for rule, mutations in BROKEN.items() for mutate in mutations],
    ids=[f"{rule}-{i}" for rule, mutations in BROKEN.items() for i in range(len(mutations))],
)
def test_each_rule_bites(rule, mutate):
    broken = copy.deepcopy(GOOD)
    mutate(broken)
    problems = lint_for_config(broken, CONFIG)
    assert {p.rule for p in problems} == {rule}, [str(p) for p in problems]


def test_problems_say_where_and_why():
    broken = copy.deepcopy(GOOD)
    set_expr(f"sum(rate(velo_error_messages_total{SEL}[5m]))")(broken)
    (problem,) = lint_for_config(broken, CONFIG)
    assert str(problem).startswith("[target-rate-interval] panel 'Error Tracking Over Time' target A:")


def test_the_range_total_may_use_dollar_range_but_rate_may_not():
    broken = copy.deepcopy(GOOD)
    set_expr(f"sum(rate(velo_error_messages_total{SEL}[$__range]))")(broken)
    assert {p.rule for p in lint_for_config(broken, CONFIG)} == {"target-rate-interval"}
    ok = copy.deepcopy(GOOD)
    set_expr(f"sum(increase(velo_error_messages_total{SEL}[$__range]))")(ok)
    assert lint_for_config(ok, CONFIG) == []


def test_braced_and_bracketed_variables_are_understood():
    ok = copy.deepcopy(GOOD)
    matchers = 'job=~"${job}", instance=~"[[instance]]"'
    set_expr(f"sum(rate(velo_error_messages_total{{{matchers}}}[${{__rate_interval}}]))")(ok)
    assert lint_for_config(ok, CONFIG) == []


def test_every_library_metric_is_known_and_other_namespaces_are_not():
    names = MetricNames("myapp")
    problems = lint_dashboard(GOOD, names.all_series(), names.kind_of)
    assert {p.rule for p in problems} == {"target-metric-known"}
    myapp = BundleConfig(namespace="myapp")
    assert lint_for_config(build_dashboard(myapp), myapp) == []
