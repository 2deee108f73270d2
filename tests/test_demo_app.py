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

JSON = "application/json"


def call(app, method, path, body=b"", query="", content_type=JSON, headers=None):
    """One WSGI request; a POST declares a JSON body unless ``content_type`` says otherwise."""
    environ = {}
    setup_testing_defaults(environ)  # Host 127.0.0.1, scheme http
    environ.update({
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    })
    if method == "POST" and content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
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
    assert status == 405 and headers["Allow"] == "OPTIONS, POST"
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


# -- cross-site requests and DNS rebinding ----------------------------------------------------------

STATE_CHANGING = ["/storm", "/reset", "/pause", "/resume", "/alertmanager/webhook"]


@pytest.mark.parametrize("path", STATE_CHANGING)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_state_changes_need_a_json_content_type(app, path, content_type):
    app.resume()
    body = json.dumps(webhook_payload()).encode()
    status, _, reply = call(app, "POST", path, body, query="count=50", content_type=content_type)
    assert status == 415 and b"application/json" in reply
    assert app.provider.get_total_errors() == 0 and not app.paused
    assert json.loads(call(app, "GET", "/alerts")[2])["notifications_received"] == 0


@pytest.mark.parametrize("origin", ["https://evil.example", "http://evil.example", "null",
                                    "http://127.0.0.1:9999", "https://127.0.0.1", "http://127.0.0.1.evil.example",
                                    "http://[::1]", "not a url", "http://127.0.0.1:notaport"])
def test_a_foreign_origin_is_refused(app, origin):
    status, _, reply = call(app, "POST", "/storm", query="count=50", headers={"Origin": origin})
    assert status == 403 and b"cross-origin" in reply
    body = json.dumps(webhook_payload()).encode()
    assert call(app, "POST", "/alertmanager/webhook", body, headers={"Origin": origin})[0] == 403
    assert app.provider.get_total_errors() == 0
    assert json.loads(call(app, "GET", "/alerts")[2])["firing"] == []


def test_cross_site_fetch_metadata_is_refused(app):
    status, _, _ = call(app, "POST", "/reset", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403


@pytest.mark.parametrize("origin", ["http://127.0.0.1", "http://127.0.0.1:80", "HTTP://127.0.0.1"])
def test_the_apps_own_origin_and_json_are_accepted(app, origin):
    status, _, reply = call(app, "POST", "/storm", query="count=7",
                            content_type="application/json; charset=utf-8", headers={"Origin": origin})
    assert status == 200 and json.loads(reply)["recorded"] == 7


def test_options_answers_allow_without_cors_headers(app):
    status, headers, _ = call(app, "OPTIONS", "/storm", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 200 and headers["Allow"] == "OPTIONS, POST"
    assert not [h for h in headers if h.lower().startswith("access-control-")]
    assert call(app, "OPTIONS", "/alerts")[1]["Allow"] == "GET, HEAD, OPTIONS"
    assert call(app, "OPTIONS", "/metrics")[1]["Allow"] == "GET, HEAD, OPTIONS"


def test_get_on_a_state_changing_route_changes_nothing(app):
    assert call(app, "GET", "/storm", query="count=50")[0] == 405
    assert app.provider.get_total_errors() == 0


def _raw(url, method, path, headers, body=b""):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_process_refuses_cross_site_and_rebinding_requests():
    with demo_app("--paused", "--allow-host", "demo.internal") as (process, url):
        port = url.rsplit(":", 1)[1]
        # a cross-site form post (no preflight): text/plain with a foreign Origin
        status, _ = _raw(url, "POST", "/storm?count=100000", {
            "Origin": "https://evil.example", "Content-Type": "text/plain"}, b"x")
        assert status == 403
        status, _ = _raw(url, "POST", "/alertmanager/webhook", {"Content-Type": "text/plain"},
                         json.dumps(webhook_payload()).encode())
        assert status == 415
        # DNS rebinding: the page's own name as Host
        for path in ("/errors", "/metrics", "/alerts", "/"):
            status, body = _raw(url, "GET", path, {"Host": f"evil.example:{port}"})
            assert status == 403 and b"total_errors" not in body
        status, _ = _raw(url, "POST", "/reset", {"Host": f"evil.example:{port}", "Content-Type": JSON}, b"{}")
        assert status == 403
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "demo.internal"):
            assert _raw(url, "GET", "/errors", {"Host": host})[0] == 200, host
        assert get_json(f"{url}/errors")["total_errors"] == 0
        assert get_json(f"{url}/alerts")["notifications_received"] == 0
        assert "Traceback" not in process.stderr.text(0.5)


def test_process_resets_leave_no_traceback():
    import socket
    import struct
    from urllib.parse import urlsplit

    with demo_app("--paused") as (process, url):
        parts = urlsplit(url)
        for i in range(20):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
            request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (b"\r\n" if i % 2 else b"")
            sock.sendall(request)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        assert http("GET", f"{url}/healthz")[0] == 200
        process.send(signal.SIGTERM)
        assert process.wait() == 0
        err = process.stderr.text(2.0)
        assert "Traceback" not in err and "Exception" not in err
