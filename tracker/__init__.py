"""velo-tracker: bounded error tracking for Python services, exposed to Prometheus at scrape time."""

__version__ = "0.1.0"

from .buffer import ErrorEntry, ErrorMessageBuffer
from .capture import capture_errors
from .config import TrackerConfig
from .exposition import make_asgi_app, make_wsgi_app, start_http_server
from .logging_handler import ErrorTrackingHandler
from .names import MetricNames
from .provider import MetricsProvider
from .ruletable import Rule
from .stats import ErrorStats, TopError

__all__ = [
    "ErrorEntry",
    "ErrorMessageBuffer",
    "ErrorStats",
    "ErrorTrackingHandler",
    "MetricNames",
    "MetricsProvider",
    "Rule",
    "TopError",
    "TrackerConfig",
    "capture_errors",
    "make_asgi_app",
    "make_wsgi_app",
    "start_http_server",
]
