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
    with pytest.raises(ValueError, match="Duplicated"):
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

        assert _get(base + "/nope")[0] == 404
        request = urllib.request.Request(server.url, method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(request, timeout=10)
        assert excinfo.value.code == 405
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


def _call_asgi(app, path: str, method: str = "GET", headers: list | None = None) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
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
    assert _call_asgi(app, "/missing")[0] == 404

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
