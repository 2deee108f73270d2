"""The demo app's routes (called as WSGI, no server), and the process: signals and clean shutdown."""

from __future__ import annotations

import io
import json
import signal
from wsgiref.util import setup_testing_defaults

import pytest

from tests.servers import demo_app, get_json, http, wait_until
from tracker.demo.app import MAX_ALERTS, MAX_BODY_BYTES, AlertInbox, DemoApp, DemoSettings, parse_listen
from tracker.demo.scenario import SECRET_FRAGMENTS


def call(app, method, path, body=b"", query=""):
    environ = {}
    setup_testing_defaults(environ)
    environ.update({
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    })
    captured = {}

    def start_response(status, headers):
        captured["status"] = status
        captured["headers"] = dict(headers)

    data = b"".join(app(environ, start_response))
    return int(captured["status"].split()[0]), captured["headers"], data


@pytest.fixture
def app():
    demo = DemoApp(DemoSettings(seed=1, paused=True))
    yield demo
    demo.stop()


def webhook_payload(status="firing", names=("VeloErrorBufferFull",)):
    return {
        "version": "4",
        "status": status,
        "receiver": "demo-webhook",
        "groupLabels": {},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "warning", "job": "velostream"},
                "annotations": {"summary": "The rolling error buffer is full."},
                "startsAt": "2025-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"fp-{name}",
            }
            for name in names
        ],
    }


def test_index_lists_the_routes(app):
    status, headers, body = call(app, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    index = json.loads(body)
    assert "POST /storm?count=N&types=K" in index["routes"]
    assert index["workload"]["paused"] is True


def test_health(app):
    assert call(app, "GET", "/healthz")[0] == 200


def test_metrics_and_errors_come_from_the_library(app):
    for _ in range(50):
        app.step()
    status, headers, body = call(app, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"velo_error_messages_total" in body and b"velo_sql_queries_total" in body
    status, _, body = call(app, "GET", "/errors")
    view = json.loads(body)
    assert status == 200 and view["total_errors"] == app.provider.get_total_errors()
    assert call(app, "GET", "/nowhere")[0] == 404


def test_storm_fills_the_buffer_with_many_types(app):
    status, _, body = call(app, "POST", "/storm", query="count=120&types=30")
    assert status == 200 and json.loads(body) == {"recorded": 120, "types": 30}
    stats = app.provider.get_error_stats()
    assert stats.total_errors == 120 and stats.unique_errors == 30
    assert len(stats.entries) == stats.buffer_capacity


def test_storm_defaults_and_validation(app):
    status, _, body = call(app, "POST", "/storm")
    assert status == 200 and json.loads(body)["recorded"] == app.settings.storm_size
    for query in ("count=-1", "count=many", "count=100000000", "types=0", "types=999"):
        assert call(app, "POST", "/storm", query=query)[0] == 400, query


def test_reset_starts_the_counters_again(app):
    call(app, "POST", "/storm", query="count=20")
    assert app.provider.get_total_errors() == 20
    status, _, body = call(app, "POST", "/reset")
    assert status == 200 and json.loads(body) == {"reset": True}
    assert app.provider.get_total_errors() == 0
    assert app.provider.get_buffered_error_count() == 0
    assert b"velo_error_messages_total 0.0" in call(app, "GET", "/metrics")[2]


def test_pause_and_resume(app):
    assert app.paused
    assert json.loads(call(app, "POST", "/resume")[2]) == {"paused": False}
    assert not app.paused
    assert json.loads(call(app, "POST", "/pause")[2]) == {"paused": True}
    assert app.paused


def test_workload_runs_in_the_background():
    demo = DemoApp(DemoSettings(seed=2, queries_per_second=500, error_rate=1.0))
    demo.start()
    try:
        wait_until(lambda: demo.provider.get_total_errors() >= 20, 10, "the workload to record errors")
        demo.pause()
        assert demo.paused
    finally:
        demo.stop()
    assert demo._worker is None


def test_wrong_method_is_405(app):
    status, headers, _ = call(app, "GET", "/storm")
    assert status == 405 and headers["Allow"] == "POST"
    assert call(app, "POST", "/alerts")[0] == 405


def test_webhook_stores_the_latest_state_of_each_alert(app):
    body = json.dumps(webhook_payload("firing", ("VeloErrorBufferFull", "VeloErrorTypesHigh"))).encode()
    status, _, reply = call(app, "POST", "/alertmanager/webhook", body)
    assert status == 200 and json.loads(reply) == {"received": 2}
    view = json.loads(call(app, "GET", "/alerts")[2])
    assert view["notifications_received"] == 1
    assert view["firing"] == ["VeloErrorBufferFull", "VeloErrorTypesHigh"]
    resolved = json.dumps(webhook_payload("resolved", ("VeloErrorBufferFull",))).encode()
    call(app, "POST", "/alertmanager/webhook", resolved)
    view = json.loads(call(app, "GET", "/alerts")[2])
    assert view["notifications_received"] == 2
    assert view["firing"] == ["VeloErrorTypesHigh"]
    assert view["alerts"][0]["alertname"] == "VeloErrorBufferFull"  # the latest first
    assert view["alerts"][0]["status"] == "resolved"
    assert len(view["alerts"]) == 2


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"alerts": 3}', b'{"alerts": [1]}', b"\xff"])
def test_webhook_rejects_bad_payloads(app, body):
    assert call(app, "POST", "/alertmanager/webhook", body)[0] == 400


def test_webhook_body_is_bounded(app):
    big = b" " * (MAX_BODY_BYTES + 1)
    assert call(app, "POST", "/alertmanager/webhook", big)[0] == 413


def test_alert_inbox_is_bounded():
    inbox = AlertInbox()
    for i in range(MAX_ALERTS + 50):
        inbox.receive(webhook_payload("firing", (f"Alert{i}",)))
    view = inbox.view()
    assert len(view["alerts"]) == MAX_ALERTS
    assert view["alerts"][0]["alertname"] == f"Alert{MAX_ALERTS + 49}"
    assert view["notifications_received"] == MAX_ALERTS + 50


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:8000", ("127.0.0.1", 8000)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:9000", ("::1", 9000)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8000", ":8000", "host:", "host:http", "host:70000"])
def test_parse_listen_rejects(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


def test_settings_are_validated():
    for kwargs in ({"error_rate": 2}, {"queries_per_second": 0}, {"storm_size": -1}, {"storm_types": 0}):
        with pytest.raises(ValueError):
            DemoSettings(**kwargs)


# -- the process ---------------------------------------------------------------------------

def test_process_serves_on_loopback_storms_on_sigusr1_and_stops_on_sigterm():
    with demo_app("--paused", "--seed", "4", "--storm-size", "50") as (process, url):
        assert url.startswith("http://127.0.0.1:")
        assert get_json(f"{url}/errors")["total_errors"] == 0
        process.send(signal.SIGUSR1)
        stats = wait_until(lambda: (s := get_json(f"{url}/errors"))["total_errors"] == 50 and s, 10,
                           "the SIGUSR1 storm")
        assert stats["buffered_errors"] == stats["buffer_capacity"]
        process.send(signal.SIGTERM)
        assert process.wait() == 0
        assert "stopped" in process.stderr.text(2.0)
    with pytest.raises(OSError):
        http("GET", f"{url}/healthz", timeout=2)


def test_process_stops_on_sigint_and_scrubs_what_it_serves():
    with demo_app("--seed", "6", "--queries-per-second", "400", "--error-rate", "1") as (process, url):
        wait_until(lambda: get_json(f"{url}/errors")["total_errors"] >= 200, 20, "errors recorded")
        served = http("GET", f"{url}/metrics")[1].decode() + http("GET", f"{url}/errors")[1].decode()
        for secret in SECRET_FRAGMENTS:
            assert secret not in served
        process.send(signal.SIGINT)
        assert process.wait() == 0


def test_process_reports_a_port_it_cannot_bind():
    import socket

    from tests.servers import velo_tracker

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with velo_tracker("demo-app", "--listen", f"127.0.0.1:{port}") as process:
            assert process.wait() == 1
            assert "cannot listen" in process.stderr.text(2.0)
