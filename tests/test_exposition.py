"""Prometheus exposition: real parsers, real promtool, the HTTP, WSGI and ASGI endpoints."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tests.support import require_binary
from tracker import MetricsProvider, TrackerConfig, make_asgi_app, start_http_server
from tracker.exposition import make_server, make_wsgi_app

AWKWARD = [
    'quote " inside',
    "back\\slash \\n not a newline",
    "real\nnewline and\ttab",
    "non-ASCII: café, 東京, emoji 🚀",
    "braces {a=\"b\"} and = signs",
    "trailing backslash \\",
    "",
]


def families(text: str) -> dict:
    return {f.name: f for f in parse_text(text)}


def provider_with_awkward_messages() -> MetricsProvider:
    provider = MetricsProvider(TrackerConfig(fingerprinting=False))
    for message in AWKWARD:
        provider.record_error_message(message)
    return provider


def test_text_format_round_trips_any_message_through_the_real_parser() -> None:
    provider = provider_with_awkward_messages()
    parsed = families(provider.get_metrics_text())
    buffered = {e.message: e for e in provider.get_error_messages()}
    occurrences = {s.labels["message"]: s.value for s in parsed["velo_buffered_error_occurrences"].samples}
    last_seen_family = parsed["velo_buffered_error_last_seen_timestamp_seconds"]
    last_seen = {s.labels["message"]: s.value for s in last_seen_family.samples}
    assert occurrences == {m: e.count for m, e in buffered.items()}
    assert last_seen == pytest.approx({m: e.last_seen for m, e in buffered.items()})
    assert parsed["velo_error_messages"].type == "counter"
    assert parsed["velo_error_messages"].samples[0].name == "velo_error_messages_total"
    assert parsed["velo_error_messages"].samples[0].value == len(AWKWARD)


def test_openmetrics_round_trips_through_the_real_parser() -> None:
    provider = provider_with_awkward_messages()
    provider.record_sql_query_with_error("select", 0.2, False, 0, "db down")
    parsed = {f.name: f for f in parse_openmetrics(provider.get_metrics_text(openmetrics=True))}
    assert parsed["velo_error_messages"].type == "counter"
    assert parsed["velo_sql_query_duration_seconds"].type == "histogram"
    messages = {s.labels["message"] for s in parsed["velo_buffered_error_occurrences"].samples}
    assert messages == {e.message for e in provider.get_error_messages()}


def test_promtool_check_metrics_finds_no_problem() -> None:
    promtool = require_binary("promtool", "prometheus")
    provider = provider_with_awkward_messages()
    provider.record_sql_query_with_error("select", 0.003, True, 12)
    provider.record_sql_query_with_error("insert", 2.0, False, 0, "Database offline")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=provider.get_metrics_text().encode(), capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def test_exactly_one_series_per_buffered_entry_and_evicted_series_disappear() -> None:
    provider = MetricsProvider(TrackerConfig(buffer_capacity=3, fingerprinting=False))
    for name in ["alpha", "beta", "gamma", "alpha", "delta"]:  # beta is the least recently seen
        provider.record_error_message(f"error {name}")
    parsed = families(provider.get_metrics_text())
    labels = [s.labels["message"] for s in parsed["velo_buffered_error_occurrences"].samples]
    assert sorted(labels) == ["error alpha", "error delta", "error gamma"]
    assert parsed["velo_buffered_error_messages"].samples[0].value == 3
    assert parsed["velo_error_buffer_capacity"].samples[0].value == 3
    assert parsed["velo_unique_error_types"].samples[0].value == 4

    provider.reset_error_tracking()
    parsed = families(provider.get_metrics_text())
    assert parsed["velo_buffered_error_occurrences"].samples == []
    assert parsed["velo_error_messages"].samples[0].value == 0


def test_scrapes_are_consistent_while_threads_record() -> None:
    provider = MetricsProvider(TrackerConfig(buffer_capacity=5, fingerprinting=False))
    stop = threading.Event()

    def work(worker: int) -> None:
        i = 0
        while not stop.is_set():
            provider.record_error_message(f"worker {worker} error {'abcdefg'[i % 7]}")
            i += 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(200):
            parsed = families(provider.get_metrics_text())
            series = parsed["velo_buffered_error_occurrences"].samples
            buffered = parsed["velo_buffered_error_messages"].samples[0].value
            total = parsed["velo_error_messages"].samples[0].value
            assert len(series) == buffered <= 5
            assert sum(s.value for s in series) <= total
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_shared_registry_refuses_a_second_provider_with_the_same_namespace() -> None:
    registry = CollectorRegistry()
    MetricsProvider(registry=registry)
    with pytest.raises(ValueError, match="already registered in this registry"):
        MetricsProvider(registry=registry)
    MetricsProvider(TrackerConfig(namespace="other"), registry=registry)  # a different namespace is fine


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_http_server_serves_metrics_json_and_openmetrics_on_loopback() -> None:
    provider = MetricsProvider()
    provider.record_error_message("Database offline")
    with start_http_server(provider) as server:
        assert server.host == "127.0.0.1"
        status, headers, body = _get(server.url)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert "velo_error_messages_total 1.0" in body.decode()

        status, headers, body = _get(server.url, {"Accept": "application/openmetrics-text; version=1.0.0"})
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        assert body.decode().rstrip().endswith("# EOF")

        status, headers, body = _get(server.url, {"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip"
        assert b"velo_error_messages_total" in gzip.decompress(body)

        base = server.url.rsplit("/", 1)[0]
        status, headers, body = _get(base + "/errors")
        view = json.loads(body)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert view["enabled"] is True and view["total_errors"] == 1
        assert view["entries"][0]["message"] == "Database offline"
        assert view["top_errors"][0] == {"message": "Database offline", "count": 1, "error": 0}

        status, _, body = _get(base + "/")  # like prometheus_client: every path serves the exposition
        assert status == 200 and b"velo_error_messages_total" in body
        request = urllib.request.Request(server.url, method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(request, timeout=10)
        assert excinfo.value.code == 405
        assert excinfo.value.headers["Allow"] == "GET, HEAD, OPTIONS"
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_wsgi_app_can_be_mounted_in_another_server() -> None:
    provider = MetricsProvider()
    provider.record_error_message("boom")
    server = make_server(make_wsgi_app(provider), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        status, _, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and families(body.decode())["velo_error_messages"].samples[0].value == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _call_asgi(app, path: str, method: str = "GET", headers: list | None = None,
               root_path: str = "") -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or [], "root_path": root_path}
    asyncio.run(app(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def test_asgi_app_serves_metrics_and_json_and_lifespan() -> None:
    provider = MetricsProvider()
    provider.record_error_message("boom")
    app = make_asgi_app(provider)
    status, headers, body = _call_asgi(app, "/metrics")
    assert status == 200 and "velo_error_messages_total 1.0" in body.decode()
    status, headers, body = _call_asgi(
        app, "/metrics", headers=[(b"accept", b"application/openmetrics-text; version=1.0.0")]
    )
    assert headers["content-type"].startswith("application/openmetrics-text")
    status, _, body = _call_asgi(app, "/errors")
    assert json.loads(body)["total_errors"] == 1
    status, _, body = _call_asgi(app, "/anything")
    assert status == 200 and b"velo_error_messages_total" in body

    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(events)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_json_view_when_disabled() -> None:
    app = make_asgi_app(MetricsProvider(TrackerConfig(enabled=False)))
    assert json.loads(_call_asgi(app, "/errors")[2]) == {"enabled": False}


# -- the core: paths, methods, content negotiation, compression ---------------------------------


def _call_wsgi(app, path: str, method: str = "GET", headers: dict | None = None,
               script_name: str = "") -> tuple[int, dict, bytes]:
    from wsgiref.util import setup_testing_defaults

    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": script_name})
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict = {}

    def start_response(status, response_headers):
        captured["status"], captured["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return int(captured["status"].split()[0]), captured["headers"], body


@pytest.fixture
def recorded() -> MetricsProvider:
    provider = MetricsProvider()
    provider.record_error_message("Database offline")
    return provider


@pytest.mark.parametrize(("script_name", "path", "view"), [
    ("", "/metrics", "metrics"),
    ("/metrics", "", "metrics"),           # DispatcherMiddleware({"/metrics": app}) at its root
    ("/metrics", "/", "metrics"),
    ("/internal/prom", "/anything", "metrics"),
    ("", "/errors", "errors"),
    ("/metrics", "/errors", "errors"),     # the JSON view at <mount>/errors
    ("/metrics", "/errors/", "errors"),
    ("", "/not-errors", "metrics"),
])
def test_wsgi_app_serves_wherever_it_is_mounted(recorded, script_name, path, view) -> None:
    status, headers, body = _call_wsgi(make_wsgi_app(recorded), path, script_name=script_name)
    assert status == 200
    if view == "errors":
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert json.loads(body)["total_errors"] == 1
    else:
        assert headers["Content-Type"].startswith("text/plain")
        assert families(body.decode())["velo_error_messages"].samples[0].value == 1


def test_an_app_pinned_to_one_view_ignores_the_path(recorded) -> None:
    errors_app = make_wsgi_app(recorded, view="errors")
    for path in ("/", "/metrics", "/debug/errors"):
        assert json.loads(_call_wsgi(errors_app, path)[2])["total_errors"] == 1
    metrics_app = make_asgi_app(recorded, view="metrics")
    assert b"velo_error_messages_total" in _call_asgi(metrics_app, "/errors")[2]
    with pytest.raises(ValueError, match="view"):
        make_wsgi_app(recorded, view="json")


def test_asgi_app_reads_the_path_relative_to_its_mount(recorded) -> None:
    app = make_asgi_app(recorded)
    # Starlette's Mount keeps the full path and sets root_path.
    _, headers, body = _call_asgi(app, "/metrics/errors", root_path="/metrics")
    assert headers["content-type"].startswith("application/json") and json.loads(body)["total_errors"] == 1
    _, headers, _ = _call_asgi(app, "/errors", root_path="/errors")  # mounted AT /errors: its root
    assert headers["content-type"].startswith("text/plain")


def test_options_is_answered_with_allow_and_other_methods_get_405(recorded) -> None:
    app = make_wsgi_app(recorded)
    status, headers, body = _call_wsgi(app, "/metrics", "OPTIONS")
    assert status == 200 and headers["Allow"] == "GET, HEAD, OPTIONS" and body == b""
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = _call_wsgi(app, "/metrics", method)
        assert status == 405 and headers["Allow"] == "GET, HEAD, OPTIONS"
    status, headers, body = _call_asgi(make_asgi_app(recorded), "/metrics", "OPTIONS")
    assert status == 200 and headers["allow"] == "GET, HEAD, OPTIONS"


def test_head_gives_the_headers_without_a_body(recorded) -> None:
    status, headers, body = _call_wsgi(make_wsgi_app(recorded), "/metrics", "HEAD")
    full = _call_wsgi(make_wsgi_app(recorded), "/metrics")[2]
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(full)


@pytest.mark.parametrize("accept", [
    "application/openmetrics-text; version=abc",
    "application/openmetrics-text; version=1.x.0",
    "text/plain; version=abc",
    ";;;,,,=",
    "\x00\xff",
])
def test_malformed_accept_falls_back_to_the_text_format(recorded, accept) -> None:
    for app, call in ((make_wsgi_app(recorded), _call_wsgi), (make_asgi_app(recorded), None)):
        if call is None:
            raw = [(b"accept", accept.encode("latin-1"))]
            status, headers, body = _call_asgi(app, "/metrics", headers=raw)
            content_type = headers["content-type"]
        else:
            status, headers, body = call(app, "/metrics", headers={"Accept": accept})
            content_type = headers["Content-Type"]
        assert status == 200
        assert content_type.startswith("text/plain")
        assert families(body.decode())["velo_error_messages"].samples[0].value == 1


def test_well_formed_openmetrics_accept_still_negotiates(recorded) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    _, headers, body = _call_wsgi(make_wsgi_app(recorded), "/metrics", headers={"Accept": accept})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert {f.name for f in parse_openmetrics(body.decode())} >= {"velo_error_messages"}


@pytest.mark.parametrize(("accept_encoding", "gzipped"), [
    ("gzip", True),
    ("GZIP", True),
    ("deflate, gzip;q=0.5", True),
    ("br;q=1.0, gzip ; q=0.1", True),
    ("gzip;q=0", False),
    ("gzip;q=0.000", False),
    ("gzip; q=bogus", False),
    ("x-notgzip", False),
    ("gzipped", False),
    ("identity", False),
    ("", False),
    ("deflate, gzip;q=0, br", False),
])
def test_accept_encoding_is_parsed_as_tokens_with_q_values(recorded, accept_encoding, gzipped) -> None:
    status, headers, body = _call_wsgi(make_wsgi_app(recorded), "/metrics",
                                       headers={"Accept-Encoding": accept_encoding})
    assert status == 200
    assert ("Content-Encoding" in headers) is gzipped
    text = gzip.decompress(body) if gzipped else body
    assert b"velo_error_messages_total 1.0" in text
    assert int(headers["Content-Length"]) == len(body)


def test_repeated_asgi_headers_are_joined(recorded) -> None:
    headers = [(b"accept-encoding", b"identity"), (b"Accept-Encoding", b"gzip")]
    response_headers = _call_asgi(make_asgi_app(recorded), "/metrics", headers=headers)[1]
    assert response_headers.get("content-encoding") == "gzip"


def test_respond_is_reusable_with_an_explicit_view(recorded) -> None:
    from tracker.exposition import headers_from_environ, respond

    status, _, body = respond(recorded, "GET", "", headers_from_environ({}), view="errors")
    assert status == "200 OK" and json.loads(body)["total_errors"] == 1
    with pytest.raises(ValueError, match="view"):
        respond(recorded, "GET", "", {}, view="other")


def test_asgi_app_closes_a_websocket_politely(recorded) -> None:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(make_asgi_app(recorded)({"type": "websocket", "path": "/metrics"}, receive, send))
    assert [m["type"] for m in sent] == ["websocket.close"]
