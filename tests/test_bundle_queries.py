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
from tracker.bundle.config import BundleConfig
from tracker.bundle.dashboard import build_dashboard
from tracker.bundle.generate import RULES_PATH, write_bundle
from tracker.names import MetricNames

CONFIG = BundleConfig()
N = MetricNames(CONFIG.namespace)
JOB = CONFIG.job
I1, I2 = "app-1:8000", "app-2:8000"
GRAFANA = {"$__rate_interval": "1m", "$__range": "10m", "$job": ".+", "$instance": ".+"}
MESSAGES = 12  # more than the table's 10 rows, all on the first instance


def labels(**kv):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def series(metric, instance, **extra):
    return metric + labels(job=JOB, instance=instance, **extra)


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
    ]
    for i in range(MESSAGES):
        rows.append((series(N.buffered_error_occurrences, I1, message=f"error {i}"), f"{i + 1}x20"))
        rows.append((series(N.buffered_error_last_seen, I1, message=f"error {i}"), f"{1_700_000_000 + i}x20"))
    return [{"series": s, "values": v} for s, v in rows]


def expected():
    """refId-by-panel -> samples, worked out from the input above."""
    newest = range(MESSAGES - 10, MESSAGES)  # the 10 most recently seen messages
    on_1, on_2 = labels(instance=I1, job=JOB), labels(instance=I2, job=JOB)
    return {
        ("Total Error Count", "A"): [("{}", 600 + 1200)],  # 10 minutes of 1/s and 2/s
        ("Unique Error Types", "A"): [("{}", 5)],
        ("Buffered Error Messages", "A"): [("{}", 10)],
        ("Error Tracking Over Time", "A"): [(on_1, 60), (on_2, 120)],
        ("Error Tracking Over Time", "B"): [(on_1, 3), (on_2, 5)],
        ("Error Tracking Over Time", "C"): [(labels(job=JOB), 3)],
        ("Last 10 Error Messages", "A"): [
            (labels(instance=I1, job=JOB, message=f"error {i}"), i + 1) for i in newest
        ],
        ("Last 10 Error Messages", "B"): [
            (labels(instance=I1, job=JOB, message=f"error {i}"), 1000 * (1_700_000_000 + i)) for i in newest
        ],
    }


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
        "rule_files": [str(tmp_path / RULES_PATH)],
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
