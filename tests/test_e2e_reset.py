"""End to end: a reset of the app's error tracking is a counter reset to Prometheus, so the error
rate — the dashboard's queries and the recording rules — never goes negative."""

from __future__ import annotations

import json
import time

import pytest

from tests.servers import wait_until
from tests.support import PROJECT_ROOT
from tracker.bundle.dashboard import DASHBOARD_FILE
from tracker.bundle.promql import RecordedNames
from tracker.names import MetricNames

RATE_INTERVAL = "4s"  # Grafana's $__rate_interval for a 1s scrape interval: 4 x 1s


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(app_options=["--seed", "33", "--queries-per-second", "40", "--error-rate", "0.5"])


def dashboard_rate_queries(job, instance):
    """Every time-series query of the dashboard that computes a rate or an increase."""
    dashboard = json.loads((PROJECT_ROOT / DASHBOARD_FILE).read_text(encoding="utf-8"))
    exprs = []
    for panel in dashboard["panels"]:
        if panel["type"] != "timeseries":
            continue
        for target in panel["targets"]:
            expr = target["expr"]
            if "rate" in expr or "increase" in expr:
                exprs.append(expr.replace("$job", job).replace("$instance", instance)
                             .replace("$__rate_interval", RATE_INTERVAL))
    return exprs


def test_reset_is_a_counter_reset_and_the_rate_never_goes_negative(stack):
    prom, job = stack.prometheus, stack.config.job
    names = MetricNames(stack.config.namespace)
    total = f'{names.error_messages_total}{{job="{job}"}}'
    stack.wait_scraped()
    before = wait_until(lambda: (v := prom.scalar(total)) is not None and v >= 30 and v, 60,
                        "errors recorded and scraped before the reset")
    stack.app_post("/reset")
    assert stack.errors()["total_errors"] < before
    wait_until(lambda: prom.scalar(f"resets({total}[1m])") >= 1, 30, "Prometheus to see the counter reset")
    after_reset = time.time()
    # Keep recording: several scrapes after the reset, with the counter growing again.
    wait_until(lambda: (prom.scalar(f"timestamp({total})") or 0) > after_reset + 4, 30,
               "scrapes after the reset")
    end = prom.scalar(f"timestamp({total})")
    start = stack.started_at

    recorded = RecordedNames(names)
    queries = [
        f"rate({total}[{RATE_INTERVAL}])",
        f"increase({total}[{RATE_INTERVAL}])",
        f'{recorded.instance_error_rate}{{job="{job}"}}',
        f'{recorded.job_error_rate}{{job="{job}"}}',
        *dashboard_rate_queries(".+", ".+"),
    ]
    for expr in queries:
        result = prom.query_range(expr, start, end, 1)
        values = [float(v) for series in result for _, v in series["values"]]
        assert values, f"no data for {expr}"
        assert min(values) >= 0, f"{expr} went negative: {min(values)}"

    # Over the whole run, the increase counts the errors before the reset and after it.
    increase = prom.scalar(f"increase({total}[{int(end - start) + 10}s])", at=end)
    assert increase >= before
