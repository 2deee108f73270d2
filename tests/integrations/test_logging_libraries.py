"""structlog and loguru: the processor and the sink, with the real libraries."""

from __future__ import annotations

import io
import logging

import pytest
import structlog
from loguru import logger as loguru_logger

from tests.integrations.support import FailingProvider, reference
from tracker import MetricsProvider, TrackerConfig, capture_errors
from tracker.integrations.loguru import sink
from tracker.integrations.structlog import ErrorTrackingProcessor

RAW = TrackerConfig(fingerprinting=False)


@pytest.fixture
def structlog_output():
    """structlog's default configuration printing to a buffer; restored afterwards."""
    structlog.reset_defaults()
    out = io.StringIO()
    defaults = structlog.get_config()
    yield out, defaults
    structlog.reset_defaults()


def configure(processor: ErrorTrackingProcessor, defaults: dict, out: io.StringIO) -> None:
    structlog.configure(
        processors=[processor, *defaults["processors"]],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def test_structlog_default_configuration(structlog_output) -> None:
    out, defaults = structlog_output
    provider = MetricsProvider(RAW)
    configure(ErrorTrackingProcessor(provider), defaults, out)
    log = structlog.get_logger()
    log.info("order_placed", order_id=1)
    log.warning("slow_payment", order_id=1)
    for order in (1, 2):
        log.error("payment_failed", order_id=order, amount=order * 10)
    for order in (3, 4):
        try:
            {}["user_id"]
        except KeyError:
            log.exception("payment_crashed", order_id=order)
    log.critical("disk_full", mount="/data")
    assert dict(provider.get_top_errors(10)) == {
        "payment_failed": 2,
        "payment_crashed: KeyError: 'user_id'": 2,
        "disk_full": 1,
    }
    text = out.getvalue()  # the events went on, rendered as without the processor
    assert "order_placed" in text and "payment_failed" in text and "order_id=4" in text
    assert "KeyError: 'user_id'" in text


def test_structlog_event_passes_unchanged_and_failing_tracker_is_silent(structlog_output) -> None:
    out, defaults = structlog_output
    event = {"event": "payment_failed", "order_id": 7}
    for provider in (MetricsProvider(RAW), FailingProvider()):
        processor = ErrorTrackingProcessor(provider)
        assert processor(None, "error", dict(event)) == event
    configure(ErrorTrackingProcessor(FailingProvider()), defaults, out)
    structlog.get_logger().error("payment_failed", order_id=7)
    assert "payment_failed" in out.getvalue() and "order_id=7" in out.getvalue()


def test_structlog_exception_already_recorded_is_not_counted_again(structlog_output) -> None:
    out, defaults = structlog_output
    provider = MetricsProvider(RAW)
    configure(ErrorTrackingProcessor(provider), defaults, out)
    log = structlog.get_logger()
    with pytest.raises(KeyError), capture_errors(provider):
        try:
            {}["user_id"]
        except KeyError:
            log.exception("lookup_failed")
            raise
    assert provider.get_top_errors(10) == [("lookup_failed: KeyError: 'user_id'", 1)]


def test_structlog_through_the_standard_library(structlog_output) -> None:
    provider = MetricsProvider(RAW)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    std = logging.getLogger("tests.structlog.std")
    std.addHandler(handler)
    std.propagate = False
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            ErrorTrackingProcessor(provider),
            structlog.stdlib.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("tests.structlog.std")
        std.setLevel(logging.INFO)
        for order in (1, 2):
            log.error("refund_failed", order_id=order)
        log.log(logging.ERROR, "via_log_method", order_id=3)
        log.info("fine", order_id=3)
    finally:
        std.removeHandler(handler)
        std.propagate = True
    assert dict(provider.get_top_errors(10)) == {"refund_failed": 2, "via_log_method": 1}
    assert "order_id=2" in stream.getvalue()


def test_structlog_default_grouping(structlog_output) -> None:
    out, defaults = structlog_output
    provider = MetricsProvider()
    configure(ErrorTrackingProcessor(provider), defaults, out)
    for order in (1, 2):
        structlog.get_logger().error("payment_failed", order_id=order)
    assert provider.get_top_errors(10) == reference("payment_failed", "payment_failed")


@pytest.fixture
def loguru():
    """loguru writing to a buffer only; every sink removed afterwards."""
    loguru_logger.remove()
    out = io.StringIO()
    loguru_logger.add(out, level="DEBUG")
    yield loguru_logger, out
    loguru_logger.remove()


def test_loguru_sink_records_messages_and_exceptions_without_prefix(loguru) -> None:
    log, out = loguru
    provider = MetricsProvider(RAW)
    log.add(sink(provider), level="ERROR")
    log.warning("slow payment")
    log.error("payment failed for {}", 7)
    log.critical("disk full")
    try:
        {}["user_id"]
    except KeyError:
        log.exception("payment crashed")
    assert dict(provider.get_top_errors(10)) == {
        "payment failed for 7": 1,
        "disk full": 1,
        "payment crashed: KeyError: 'user_id'": 1,
    }
    assert "Traceback" in out.getvalue()  # loguru's own output is untouched


def test_loguru_sink_default_grouping_and_level(loguru) -> None:
    log, _ = loguru
    provider = MetricsProvider()
    log.add(sink(provider))  # no level given: the sink still records ERROR and above only
    for order in (7, 8):
        log.error("payment failed for {}", order)
    log.info("just info")
    assert provider.get_top_errors(10) == reference("payment failed for 7", "payment failed for 8")


def test_loguru_failing_tracker_and_exception_recorded_once(loguru) -> None:
    log, out = loguru
    log.add(sink(FailingProvider()), level="ERROR", catch=False)
    log.error("still logged")
    assert "still logged" in out.getvalue()
    provider = MetricsProvider(RAW)
    log.add(sink(provider), level="ERROR")
    with pytest.raises(KeyError), capture_errors(provider):
        try:
            {}["user_id"]
        except KeyError:
            log.exception("lookup failed")
            raise
    assert provider.get_top_errors(10) == [("lookup failed: KeyError: 'user_id'", 1)]
