"""Every dashboard query, evaluated by promtool against series shaped like the library's output.

Grafana's variables are replaced as Grafana would with "All" selected; the recording rules
are loaded, so the rate series the dashboard reuses exist. Expected values are worked out
here from the input series.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.support import require_binary
from tracker.bundle.config import BundleConfig, parse_duration
from tracker.bundle.dashboard import build_dashboard
from tracker.bundle.generate import rules_path, write_bundle
from tracker.names import MetricNames

CONFIG = BundleConfig(namespace="billing", selector='job="billing-api", env="prod"')
N = MetricNames(CONFIG.namespace)
JOB = CONFIG.identity.job
I1, I2 = "app-1:8000", "app-2:8000"
GRAFANA = {"$__rate_interval": "1m", "$__range": "10m", "$job": ".+", "$instance": ".+"}
EVAL_SECONDS = 1200  # the queries are evaluated at 20m
WINDOW_SECONDS = parse_duration(CONFIG.alerts.error_types_high.window) / 1000
#: (instance, message) -> (occurrences, last seen): 14 buffered entries, more than the table's 10 rows;
#: error 0 on the first instance was last seen exactly one window ago, so it no longer counts as recent.
BUFFERED = {
    **{(I1, f"error {i}"): (i + 1, 600 + 50 * i) for i in range(10)},
    **{(I2, f"error {i}"): (1, 1100 + 10 * (i - 8)) for i in range(8, 12)},
}


def labels(**kv):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def series(metric, instance, **extra):
    return metric + labels(job=JOB, env="prod", instance=instance, **extra)


def input_series():
    rows = [
        (series(N.error_messages_total, I1), "0+60x20"),  # 1 error per second
        (series(N.error_messages_total, I2), "0+120x20"),  # 2 errors per second
        (series(N.unique_error_types, I1), "3x20"),
        (series(N.unique_error_types, I2), "5x20"),
        (series(N.buffered_error_messages, I1), "10x20"),
        (series(N.buffered_error_messages, I2), "4x20"),
        (series(N.error_buffer_capacity, I1), "10x20"),
        (series(N.error_buffer_capacity, I2), "10x20"),
        # Another service in the same namespace: no query of this dashboard may count it.
        (N.error_messages_total + labels(job="orders", env="prod", instance=I1), "0+600x20"),
        (N.buffered_error_last_seen + labels(job="orders", env="prod", instance=I1, message="x"), "1190x20"),
        (N.buffered_error_last_seen + labels(job=JOB, env="staging", instance=I1, message="y"), "1190x20"),
    ]
    for (instance, message), (occurrences, last_seen) in BUFFERED.items():
        rows.append((series(N.buffered_error_occurrences, instance, message=message), f"{occurrences}x20"))
        rows.append((series(N.buffered_error_last_seen, instance, message=message), f"{last_seen}x20"))
    return [{"series": s, "values": v} for s, v in rows]


def expected():
    """refId-by-panel -> samples, worked out from the input above."""
    recent = {key for key, (_, seen) in BUFFERED.items() if EVAL_SECONDS - seen < WINDOW_SECONDS}
    per_instance = {i: sum(1 for inst, _ in recent if inst == i) for i in (I1, I2)}
    newest = sorted(BUFFERED, key=lambda key: BUFFERED[key][1])[-10:]  # the 10 most recently seen
    on_1, on_2 = labels(instance=I1, job=JOB), labels(instance=I2, job=JOB)

    def row(key):
        return labels(instance=key[0], job=JOB, message=key[1])

    return {
        ("Total Error Count", "A"): [("{}", 600 + 1200)],  # 10 minutes of 1/s and 2/s
        ("Unique Error Types", "A"): [("{}", len({message for _, message in recent}))],
        ("Buffered Error Messages", "A"): [("{}", max(per_instance.values()))],
        ("Error Tracking Over Time", "A"): [(on_1, 1), (on_2, 2)],
        ("Error Tracking Over Time", "C"): [(labels(job=JOB), 3)],
        ("Error Types Over Time", "A"): [(on_1, per_instance[I1]), (on_2, per_instance[I2])],
        ("Last 10 Error Messages", "A"): [(row(key), BUFFERED[key][0]) for key in newest],
        ("Last 10 Error Messages", "B"): [(row(key), 1000 * BUFFERED[key][1]) for key in newest],
    }


def test_the_expectations_are_not_trivial():
    values = dict(((title, ref), samples) for (title, ref), samples in expected().items())
    # Not the 14 entries, nor the 10 on one instance.
    assert values[("Unique Error Types", "A")] == [("{}", 11)]
    assert values[("Buffered Error Messages", "A")] == [("{}", 9)]


def as_grafana_would_send(expr):
    for variable, value in GRAFANA.items():
        expr = expr.replace(variable, value)
    return expr


def test_every_dashboard_query_returns_what_the_panel_needs(tmp_path):
    promtool = require_binary("promtool", "prometheus")
    write_bundle(CONFIG, tmp_path)
    want = expected()
    checks = []
    for panel in build_dashboard(CONFIG)["panels"]:
        for target in panel["targets"]:
            samples = want.pop((panel["title"], target["refId"]))
            checks.append({
                "expr": as_grafana_would_send(target["expr"]),
                "eval_time": "20m",
                "exp_samples": [{"labels": lbl, "value": value} for lbl, value in samples],
            })
    assert want == {}, "a panel query has no expectation"
    test_file = tmp_path / "queries.test.yml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(tmp_path / rules_path(CONFIG))],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series(), "promql_expr_test": checks}],
    }), encoding="utf-8")
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variable", sorted(GRAFANA))
def test_the_queries_use_each_substituted_variable(variable):
    exprs = " ".join(t["expr"] for p in build_dashboard(CONFIG)["panels"] for t in p["targets"])
    assert variable in exprs
