"""The built-in server under load and abuse, on 127.0.0.1: concurrency, slow clients, resets, Host.

Every test starts its own server on an ephemeral loopback port and closes it; load is bounded
in count (at most a few hundred connections) and every wait has a deadline.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import wait_until
from tracker import MetricsProvider, TrackerConfig, start_http_server
from tracker.exposition import (
    DEFAULT_BACKLOG,
    DEFAULT_MAX_THREADS,
    HostGuard,
    is_loopback_address,
    is_loopback_host,
    make_server,
    make_wsgi_app,
)

CONCURRENT_SCRAPERS = 200
DEADLINE = 30.0


def request(port: int, path: str = "/metrics", method: str = "GET", headers: dict | None = None,
            timeout: float = DEADLINE) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def total_errors(body: bytes) -> float:
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return families["velo_error_messages"].samples[0].value


@pytest.fixture
def provider() -> MetricsProvider:
    provider = MetricsProvider()
    for i in range(5):
        provider.record_error_message(f"Database offline: shard {'abcde'[i]}")
    return provider


def test_the_server_is_bounded_by_default(provider) -> None:
    with start_http_server(provider) as server:
        assert server.server.request_queue_size == DEFAULT_BACKLOG >= 512
        assert server.server.max_threads == DEFAULT_MAX_THREADS
        listening = server.server.socket
        assert listening.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


def test_200_concurrent_scrapes_all_succeed_with_bounded_threads(provider) -> None:
    barrier = threading.Barrier(CONCURRENT_SCRAPERS, timeout=DEADLINE)

    def scrape(_: int) -> tuple[int, float]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE)
        try:
            barrier.wait()  # everyone connects and asks at once
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            return response.status, total_errors(response.read())
        finally:
            connection.close()

    threads_before = threading.active_count()
    with start_http_server(provider) as server, \
            ThreadPoolExecutor(max_workers=CONCURRENT_SCRAPERS) as pool:
        results = list(pool.map(scrape, range(CONCURRENT_SCRAPERS), timeout=DEADLINE * 2))
        assert server.server.threads <= DEFAULT_MAX_THREADS
        wait_until(lambda: server.server.counters["handled"] == CONCURRENT_SCRAPERS, 10,
                   "every scrape handled")
        assert server.server.counters["refused"] == 0
    assert results == [(200, 5.0)] * CONCURRENT_SCRAPERS
    wait_until(lambda: threading.active_count() <= threads_before + 1, 10, "the server's threads to end")


def _slow_client(port: int, stop: threading.Event, got: list[bytes]) -> None:
    """Sends a request one byte at a time, never finishing it, until the server answers or closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.settimeout(0.2)
        trickle = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 10_000
        deadline = time.monotonic() + DEADLINE
        for byte in trickle:
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            try:
                data = sock.recv(4096)  # waits up to 0.2 s: the trickle's pace
            except TimeoutError:
                continue
            except OSError:
                break
            got.append(data)
            if not data:
                break
        sock.settimeout(5)
        try:
            while data := sock.recv(4096):
                got.append(data)
        except OSError:
            pass


def test_a_slowloris_client_is_timed_out_while_metrics_keeps_answering(provider) -> None:
    stop = threading.Event()
    got: list[bytes] = []
    with start_http_server(provider, timeout=1.0) as server:
        slow = threading.Thread(target=_slow_client, args=(server.port, stop, got))
        slow.start()
        try:
            wait_until(lambda: server.server.threads >= 1, 10, "the slow client to occupy a worker")
            for _ in range(5):  # answered while the slow client holds its worker
                status, _, body = request(server.port)
                assert status == 200 and total_errors(body) == 5
            slow.join(DEADLINE)
            assert not slow.is_alive(), "the server never closed the slow connection"
        finally:
            stop.set()
            slow.join(DEADLINE)
        assert b"".join(got).startswith(b"HTTP/1.0 408 ")
        assert server.server.counters["timed_out"] == 1
        assert request(server.port)[0] == 200


def test_excess_connections_are_refused_cleanly_with_503(provider) -> None:
    with start_http_server(provider, max_threads=1, max_pending=1, timeout=20.0) as server:
        pooled = server.server
        holder = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)  # sends nothing
        try:
            wait_until(lambda: pooled.threads == 1 and pooled._pending == 0 and pooled._idle == 0, 10,
                       "the only worker to take the idle connection")
            waiting = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE)
            waiting.request("GET", "/metrics")
            wait_until(lambda: pooled._pending == 1, 10, "a connection waiting for the worker")
            status, headers, body = request(server.port)
            assert status == 503 and headers["retry-after"] == "1" and body == b"server busy\n"
            assert pooled.counters["refused"] == 1
        finally:
            holder.close()  # frees the worker, which then serves the waiting connection
        response = waiting.getresponse()
        assert response.status == 200 and total_errors(response.read()) == 5
        waiting.close()
        assert pooled.threads == 1


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST instead of FIN


def test_client_resets_are_quiet_and_the_server_keeps_serving(capfd, caplog) -> None:
    provider = MetricsProvider(TrackerConfig(buffer_capacity=2000, fingerprinting=False,
                                             max_message_length=256))
    for i in range(2000):  # a large exposition (~1 MB): resets happen mid-response too
        provider.record_error_message(f"error {i:05d} " + "x" * 200)
    caplog.set_level(logging.DEBUG, logger="velo_tracker.exposition")
    with start_http_server(provider) as server:
        for i in range(40):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
            if i % 2:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            else:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # half a request
            if i % 4 == 1:
                sock.recv(1024)  # the response has started
            _reset(sock)
        wait_until(lambda: server.server.counters["handled"] >= 40,
                   DEADLINE, "every reset connection to be handled")
        status, _, body = request(server.port)
        assert status == 200 and total_errors(body) == 2000
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    debug_lines = [
        r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "velo_tracker.exposition"
    ]
    assert debug_lines and all(r.exc_info is None for r in debug_lines)


# -- HTTP details against the real server ------------------------------------------------------


def test_options_accept_and_accept_encoding_on_the_real_server(provider) -> None:
    with start_http_server(provider) as server:
        status, headers, body = request(server.port, method="OPTIONS")
        assert status == 200 and headers["allow"] == "GET, HEAD, OPTIONS" and body == b""
        malformed = {"Accept": "application/openmetrics-text; version=abc"}
        status, headers, body = request(server.port, headers=malformed)
        assert status == 200 and headers["content-type"].startswith("text/plain") and total_errors(body) == 5
        for encoding, gzipped in (("gzip;q=0", False), ("x-notgzip", False), ("gzip;q=0.8", True)):
            status, headers, body = request(server.port, headers={"Accept-Encoding": encoding})
            assert status == 200 and ("content-encoding" in headers) is gzipped, encoding
            assert total_errors(gzip.decompress(body) if gzipped else body) == 5


# -- DNS rebinding --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example", "0.0.0.0", "10.0.0.5", "[::2]"])
def test_a_loopback_server_refuses_a_foreign_host(provider, host) -> None:
    with start_http_server(provider) as server:
        for path in ("/metrics", "/errors"):
            status, _, body = request(server.port, path, headers={"Host": host})
            assert status == 403 and b"velo_" not in body and b"Database" not in body


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:{port}", "localhost", "LOCALHOST:{port}",
                                  "localhost.", "app.localhost", "[::1]:{port}", "127.1.2.3"])
def test_a_loopback_server_answers_loopback_hosts(provider, host) -> None:
    with start_http_server(provider) as server:
        status, _, body = request(server.port, headers={"Host": host.format(port=server.port)})
        assert status == 200 and total_errors(body) == 5


def test_allowed_hosts_adds_names(provider) -> None:
    with start_http_server(provider, allowed_hosts=["metrics.internal", "Scraper.Example"]) as server:
        for host in ("metrics.internal", "metrics.internal:9100", "scraper.example"):
            assert request(server.port, headers={"Host": host})[0] == 200, host
        assert request(server.port, headers={"Host": "other.internal"})[0] == 403


def test_host_checks_apply_only_to_loopback_binds_and_not_to_mounted_apps(provider) -> None:
    for address in ("127.0.0.1", "::1", "127.0.0.2", "localhost"):
        assert is_loopback_address(address), address
    for address in ("0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "fe80::1%eth0"):
        assert not is_loopback_address(address), address
    assert is_loopback_host("[::1]:80") and not is_loopback_host("evil.example")
    server = make_server(make_wsgi_app(provider), "127.0.0.1", 0)
    try:
        assert isinstance(server.get_app(), HostGuard)
    finally:
        server.server_close()
    # Mounted in an application, the app answers scrapes by service name: Host is the framework's job.
    from tests.test_exposition import _call_wsgi

    status, _, body = _call_wsgi(make_wsgi_app(provider), "/metrics", headers={"Host": "my-service:8000"})
    assert status == 200 and total_errors(body) == 5


@pytest.mark.parametrize(("option", "value"), [("max_threads", 0), ("max_pending", -1), ("timeout", 0),
                                               ("timeout", "5"), ("backlog", 0), ("allowed_hosts", [1])])
def test_bad_server_options_are_refused_clearly(provider, option, value) -> None:
    with pytest.raises((ValueError, TypeError), match=option.split("_")[0] if option != "allowed_hosts"
                       else "allowed_hosts"):
        start_http_server(provider, **{option: value})
