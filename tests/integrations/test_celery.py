"""Celery: task failures recorded once, through a real worker thread on the in-memory broker."""

from __future__ import annotations

import logging

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Ignore

from tests.integrations.support import FailingProvider, reference
from tracker import ErrorTrackingHandler, MetricsProvider, TrackerConfig
from tracker.integrations.celery import connect, disconnect

RAW = TrackerConfig(fingerprinting=False)
TIMEOUT = 20


def make_app(name: str = "billing") -> Celery:
    app = Celery(name, broker="memory://", backend="cache+memory://")
    app.conf.update(worker_hijack_root_logger=False, broker_transport_options={"polling_interval": 0.01})

    @app.task(name=f"{name}.charge")
    def charge(order: dict) -> str:
        return order["user_id"]

    @app.task(name=f"{name}.refund", bind=True, max_retries=1, default_retry_delay=0)
    def refund(self, attempt: list) -> str:
        if self.request.retries == 0:
            raise self.retry(exc=TimeoutError("gateway slow"))
        return "refunded"

    @app.task(name=f"{name}.skip")
    def skip() -> None:
        raise Ignore()

    @app.task(name=f"{name}.handled")
    def handled() -> str:
        try:
            {}["nothing"]
        except KeyError:
            return "fine"

    return app


@pytest.fixture
def receivers():
    connected: list[object] = []
    yield connected
    for receiver in connected:
        disconnect(receiver)


def run_tasks(app: Celery) -> list[tuple[str, object]]:
    """Each task's final state and result, run by a real worker thread."""
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=TIMEOUT):
        app.tasks["billing.skip"].delay()  # Ignore stores no result: the solo worker runs it first
        results = [
            app.tasks["billing.charge"].delay({"order_id": 1}),
            app.tasks["billing.charge"].delay({"order_id": 2}),
            app.tasks["billing.refund"].delay([]),
            app.tasks["billing.handled"].delay(),
        ]
        outcome = []
        for result in results:
            try:
                value: object = result.get(timeout=TIMEOUT)
            except Exception as exc:
                value = exc
            outcome.append((result.state, type(value).__name__ if isinstance(value, Exception) else value))
        return outcome


def test_worker_failures_are_recorded_once(receivers) -> None:
    provider = MetricsProvider(RAW)
    app = make_app()
    receivers.append(connect(provider, app))
    handler = ErrorTrackingHandler(provider)
    celery_log = logging.getLogger("celery")  # Celery logs "Task ... raised unexpected": still once
    celery_log.addHandler(handler)
    try:
        outcome = run_tasks(app)
    finally:
        celery_log.removeHandler(handler)
    assert outcome[:3] == [("FAILURE", "KeyError"), ("FAILURE", "KeyError"), ("SUCCESS", "refunded")]
    assert outcome[3] == ("SUCCESS", "fine")
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 2)]  # no retry, no Ignore


def test_task_name_for_grouping_and_other_apps_ignored(receivers) -> None:
    provider = MetricsProvider(RAW)
    app, other = make_app(), make_app("other")
    receivers.append(connect(provider, app, include_task_name=True))
    app.conf.task_always_eager = other.conf.task_always_eager = True
    app.tasks["billing.charge"].delay({})
    other.tasks["other.charge"].delay({})
    assert provider.get_top_errors(10) == [("billing.charge: KeyError: 'user_id'", 1)]


def test_default_pipeline(receivers) -> None:
    provider = MetricsProvider()
    app = make_app()
    receivers.append(connect(provider))
    app.conf.task_always_eager = True
    for order in ({"id": 1}, {"id": 2}):
        app.tasks["billing.charge"].delay(order)
    assert provider.get_top_errors(10) == reference("KeyError: 'user_id'", "KeyError: 'user_id'")


def test_a_failing_tracker_changes_nothing(receivers) -> None:
    app = make_app()
    plain = run_tasks(app)
    calls = FailingProvider.calls
    receivers.append(connect(FailingProvider(), app))
    assert run_tasks(app) == plain
    assert FailingProvider.calls == calls + 2
