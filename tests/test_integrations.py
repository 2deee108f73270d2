"""The logging handler and the capture_errors context manager / decorator."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tracker import ErrorTrackingHandler, MetricsProvider, TrackerConfig, capture_errors


@pytest.fixture
def provider() -> MetricsProvider:
    return MetricsProvider(TrackerConfig(fingerprinting=False))


@pytest.fixture
def logger(provider: MetricsProvider):
    log = logging.getLogger("tests.integrations.app")
    handler = ErrorTrackingHandler(provider)
    log.addHandler(handler)
    log.propagate = False
    yield log
    log.removeHandler(handler)
    log.propagate = True


def test_handler_records_error_and_above_only(provider: MetricsProvider, logger: logging.Logger) -> None:
    logger.warning("just a warning")
    logger.error("payment failed")
    logger.critical("disk gone")
    assert {e.message for e in provider.get_error_messages()} == {"payment failed", "disk gone"}


def test_handler_groups_on_the_unformatted_template(
    provider: MetricsProvider, logger: logging.Logger
) -> None:
    for user in ["alice", "bob", "carol"]:
        logger.error("login failed for user %s", user)
    logger.error("literal %s without args")
    assert provider.get_top_errors(5) == [("login failed for user %s", 3), ("literal %s without args", 1)]


def test_handler_adds_the_exception_type(provider: MetricsProvider, logger: logging.Logger) -> None:
    try:
        raise ConnectionError("refused")
    except ConnectionError:
        logger.exception("upstream call failed")
    assert provider.get_error_messages()[0].message == "upstream call failed [ConnectionError]"


def test_handler_ignores_the_library_logger_and_never_recurses(provider: MetricsProvider) -> None:
    handler = ErrorTrackingHandler(provider)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("tracker").error("from the library itself")
        logging.getLogger("tracker.provider").error("also the library")
        # A provider whose recording logs an error through the same handler must not loop.
        broken = MetricsProvider()
        broken._tracker.record = lambda key: logging.getLogger("app").error("nested")  # type: ignore[union-attr]
        nested = ErrorTrackingHandler(broken)
        root.addHandler(nested)
        try:
            logging.getLogger("app").error("outer")
        finally:
            root.removeHandler(nested)
    finally:
        root.removeHandler(handler)
    messages = {e.message for e in provider.get_error_messages()}
    assert "from the library itself" not in messages and "also the library" not in messages
    assert "outer" in messages


def test_handler_never_raises(provider: MetricsProvider) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    handler = ErrorTrackingHandler(provider)
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, Unprintable(), None, None)
    handler.handle(record)  # str(msg) raises inside the handler: swallowed
    handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, "bad format %d", ("x",), None))
    assert [e.message for e in provider.get_error_messages()] == ["bad format %d"]


def test_capture_errors_records_and_reraises(provider: MetricsProvider) -> None:
    with pytest.raises(ValueError, match="bad input"), capture_errors(provider):
        raise ValueError("bad input")
    assert provider.get_error_messages()[0].message == "ValueError: bad input"


def test_capture_errors_ignores_success_and_base_exceptions(provider: MetricsProvider) -> None:
    with capture_errors(provider):
        pass
    with pytest.raises(KeyboardInterrupt), capture_errors(provider):
        raise KeyboardInterrupt
    assert provider.get_total_errors() == 0


def test_capture_errors_filters_by_type(provider: MetricsProvider) -> None:
    with pytest.raises(KeyError), capture_errors(provider, exceptions=(ValueError,)):
        raise KeyError("x")
    assert provider.get_total_errors() == 0


def test_capture_errors_as_decorator_sync_and_async(provider: MetricsProvider) -> None:
    @capture_errors(provider)
    def sync_job(fail: bool) -> str:
        if fail:
            raise RuntimeError("sync failed")
        return "ok"

    @capture_errors(provider)
    async def async_job(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise TimeoutError("async failed")
        return "ok"

    assert sync_job(False) == "ok" and asyncio.run(async_job(False)) == "ok"
    with pytest.raises(RuntimeError):
        sync_job(True)
    with pytest.raises(TimeoutError):
        asyncio.run(async_job(True))
    assert sync_job.__name__ == "sync_job" and async_job.__name__ == "async_job"
    assert {e.message for e in provider.get_error_messages()} == {
        "RuntimeError: sync failed", "TimeoutError: async failed"
    }


def test_capture_errors_async_context_manager(provider: MetricsProvider) -> None:
    async def main() -> None:
        async with capture_errors(provider):
            raise OSError("io failed")

    with pytest.raises(OSError):
        asyncio.run(main())
    assert provider.get_total_errors() == 1


def test_cancellation_is_not_recorded(provider: MetricsProvider) -> None:
    @capture_errors(provider)
    async def forever() -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert provider.get_total_errors() == 0
