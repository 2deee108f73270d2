"""The logging handler, the capture_errors context manager / decorator, and the recorded-once mark."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import sys
import types

import pytest

from tracker import ErrorTrackingHandler, MetricsProvider, TrackerConfig, capture_errors
from tracker.capture import resolve_provider


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


def test_handler_groups_on_the_exception(provider: MetricsProvider, logger: logging.Logger) -> None:
    for path in ("/a", "/b"):
        try:
            raise ConnectionError("refused")
        except ConnectionError:
            logger.exception("upstream call failed for %s", path)
    assert provider.get_top_errors(5) == [("ConnectionError: refused", 2)]


def test_handler_ignores_the_library_logger_and_never_recurses(provider: MetricsProvider) -> None:
    handler = ErrorTrackingHandler(provider)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("velo_tracker").error("from the library itself")
        logging.getLogger("velo_tracker.provider").error("also the library")
        logging.getLogger("tracker").error("a user logger named tracker")
        logging.getLogger("tracker.orders").error("a child of it")
        logging.getLogger("velo_trackers").error("a look-alike name")
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
    assert {"a user logger named tracker", "a child of it", "a look-alike name"} <= messages


class _RecordingHandler(ErrorTrackingHandler):
    """Keeps what ``handleError`` was called with instead of printing it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.failures: list[tuple[logging.LogRecord, type[BaseException] | None]] = []

    def handleError(self, record: logging.LogRecord) -> None:
        self.failures.append((record, sys.exc_info()[0]))


def test_handler_reports_its_own_failures_through_handle_error(provider: MetricsProvider) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    handler = _RecordingHandler(provider)
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, Unprintable(), None, None)
    handler.handle(record)  # str(msg) raises inside the handler: reported, not raised
    assert [(r, t) for r, t in handler.failures] == [(record, RuntimeError)]
    handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, "bad format %d", ("x",), None))
    assert [e.message for e in provider.get_error_messages()] == ["bad format %d"]
    assert len(handler.failures) == 1


def test_handler_with_default_handle_error_never_raises(provider: MetricsProvider, capsys) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    handler = ErrorTrackingHandler(provider)
    handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, Unprintable(), None, None))
    assert "RuntimeError: cannot print" in capsys.readouterr().err  # logging's own report
    assert provider.get_total_errors() == 0


@pytest.mark.parametrize(
    ("template", "args", "expected"),
    [
        ("%s", ("disk full on /dev/sda1",), "disk full on /dev/sda1"),
        ("%s: %s", ("Internal Server Error", "/orders/7"), "Internal Server Error: /orders/7"),
        ("%(exc)s", ({"exc": "queue closed"},), "queue closed"),
        ("[%s] %-10s", ("a", "b"), "[a] b"),
        ("%d%%", (5,), "5%"),
        ("disk %s full", ("sda1",), "disk %s full"),
    ],
)
def test_placeholder_only_templates_keep_their_formatted_text(
    template: str, args: tuple[object, ...], expected: str
) -> None:
    provider = MetricsProvider(TrackerConfig(fingerprinting=False))
    handler = ErrorTrackingHandler(provider)
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, template, args, None)
    handler.handle(record)
    assert [e.message for e in provider.get_error_messages()] == [expected]


def test_placeholder_only_template_with_arguments_that_do_not_fit(provider: MetricsProvider) -> None:
    handler = _RecordingHandler(provider)
    handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, "%d", ("disk full",), None))
    assert [e.message for e in provider.get_error_messages()] == ["%d disk full"]
    assert handler.failures == []


def test_logged_exception_object_is_recorded_as_the_exception(
    provider: MetricsProvider, logger: logging.Logger
) -> None:
    logger.error(KeyError("user_id"))
    assert [e.message for e in provider.get_error_messages()] == ["KeyError: 'user_id'"]


def test_logger_name_is_available_to_grouping(provider: MetricsProvider) -> None:
    handler = ErrorTrackingHandler(provider, include_logger_name=True)
    for name in ("payments", "orders", "payments"):
        handler.handle(logging.LogRecord(name, logging.ERROR, __file__, 1, "timed out", None, None))
        try:
            raise TimeoutError("upstream")
        except TimeoutError:
            handler.handle(
                logging.LogRecord(name, logging.ERROR, __file__, 1, "call failed", None, sys.exc_info())
            )
    assert dict(provider.get_top_errors(10)) == {
        "payments: timed out": 2,
        "orders: timed out": 1,
        "payments: TimeoutError: upstream": 2,
        "orders: TimeoutError: upstream": 1,
    }


def test_structlog_event_dict_is_grouped_on_its_event(provider: MetricsProvider) -> None:
    handler = ErrorTrackingHandler(provider)
    for order in (1, 2):
        event = {"event": "payment_failed", "order_id": order, "level": "error"}
        handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, event, None, None))
    assert provider.get_top_errors(5) == [("payment_failed", 2)]


def test_same_exception_seen_by_two_handlers_and_capture_errors_is_recorded_once(
    provider: MetricsProvider,
) -> None:
    first, second = ErrorTrackingHandler(provider), ErrorTrackingHandler(provider)
    other = MetricsProvider()
    third = ErrorTrackingHandler(other)
    log = logging.getLogger("tests.once")
    for handler in (first, second, third):
        log.addHandler(handler)
    log.propagate = False
    try:
        with pytest.raises(KeyError), capture_errors(provider), capture_errors(provider):
            try:
                raise KeyError("user_id")
            except KeyError:
                log.exception("lookup failed")
                raise
    finally:
        for handler in (first, second, third):
            log.removeHandler(handler)
        log.propagate = True
    assert provider.get_top_errors(5) == [("KeyError: 'user_id'", 1)]
    # Another provider counts it too, through its own (default) grouping pipeline.
    reference = MetricsProvider()
    reference.record_error_message("KeyError: 'user_id'")
    assert other.get_top_errors(5) == reference.get_top_errors(5)


def test_exceptions_that_refuse_attributes_are_still_recorded_once(provider: MetricsProvider) -> None:
    class Slotted(Exception):
        __slots__ = ()

        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError(name)

    exc = Slotted("frozen")
    for _ in range(3):
        with pytest.raises(Slotted), capture_errors(provider):
            raise exc
    assert provider.get_top_errors(5) == [("Slotted: frozen", 1)]


def test_dict_config_by_class_path_and_provider_path() -> None:
    module = types.ModuleType("velo_test_settings_module")
    module.provider = MetricsProvider()  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "errors": {
                    "class": "tracker.ErrorTrackingHandler",
                    "provider": "velo_test_settings_module.provider",
                    "level": "ERROR",
                },
                "errors_by_logger": {
                    "class": "tracker.logging_handler.ErrorTrackingHandler",
                    "provider": "velo_test_settings_module:provider",
                    "include_logger_name": True,
                },
            },
            "loggers": {"tests.dictconfig": {"handlers": ["errors", "errors_by_logger"], "propagate": False}},
        })
        log = logging.getLogger("tests.dictconfig")
        log.warning("not an error")
        log.error("queue %s is full", "q1")
        assert dict(module.provider.get_top_errors(5)) == {  # type: ignore[attr-defined]
            "queue %s is full": 1, "tests.dictconfig: queue %s is full": 1
        }
    finally:
        for handler in logging.getLogger("tests.dictconfig").handlers[:]:
            logging.getLogger("tests.dictconfig").removeHandler(handler)
            handler.close()
        del sys.modules[module.__name__]


def test_provider_path_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"package\.module\.name"):
        ErrorTrackingHandler("not a path!")
    with pytest.raises(TypeError, match="MetricsProvider"):
        ErrorTrackingHandler(42)  # type: ignore[arg-type]
    handler = _RecordingHandler("velo_no_such_module_here.provider")
    handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, "lost", None, None))
    assert [t for _, t in handler.failures] == [ModuleNotFoundError]
    with pytest.raises(TypeError, match="not a MetricsProvider"):
        resolve_provider("logging.getLogger")


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


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_a_group_of_one_exception_is_recorded_as_that_exception(provider: MetricsProvider) -> None:
    inner = KeyError("user_id")
    group = ExceptionGroup("unhandled errors in a TaskGroup", [inner])  # noqa: F821 - 3.11+
    with pytest.raises(ExceptionGroup), capture_errors(provider):  # noqa: F821
        raise group
    with pytest.raises(KeyError), capture_errors(provider):
        raise inner  # the same exception later: already recorded
    two = ExceptionGroup("two", [ValueError("a"), ValueError("b")])  # noqa: F821
    with pytest.raises(ExceptionGroup), capture_errors(provider):  # noqa: F821
        raise two
    assert dict(provider.get_top_errors(5)) == {
        "KeyError: 'user_id'": 1, "ExceptionGroup: two (2 sub-exceptions)": 1
    }
