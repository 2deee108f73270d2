"""The small WSGI app the gunicorn end-to-end tests run: one error recorded per request.

``/fail?n=N`` records an error of one of several types and counts the request with a
``prometheus_client`` counter; ``/metrics`` serves both the tracker's merged metrics and
``prometheus_client``'s multiprocess metrics (the README's recipe), with the answering
worker's pid in a header.
"""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.multiprocess import MultiProcessCollector

from tests.e2e.workload import error_text
from tracker import MetricsProvider, make_wsgi_app

#: Long enough for several workers to be busy at once under concurrent requests.
HANDLER_SECONDS = 0.02

registry = CollectorRegistry()
MultiProcessCollector(registry)
provider = MetricsProvider(registry=registry)
metrics_app = make_wsgi_app(provider)
requests_recorded = Counter("e2e_requests_recorded", "Requests that recorded an error", registry=None)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    pid = str(os.getpid())
    if path == "/metrics":
        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Worker-Pid", pid)], exc_info)

        return metrics_app(environ, start)
    if path == "/fail":
        n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["0"])[0])
        provider.record_error_message(error_text(n))
        requests_recorded.inc()
        time.sleep(HANDLER_SECONDS)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(pid)))])
        return [pid.encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]
