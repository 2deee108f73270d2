"""MetricsProvider: the spec's API, its examples, and the guarantees around recording."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tracker import ErrorEntry, MetricsProvider, TrackerConfig
from tracker.stats import ErrorStats


def test_spec_example_1_basic_error_tracking() -> None:
    metrics = MetricsProvider(TrackerConfig())
    metrics.record_error_message("Connection failed")
    metrics.record_error_message("Connection failed")  # same error
    metrics.record_error_message("Timeout error")
    metrics.sync_error_metrics()

    text = metrics.get_metrics_text()
    assert "velo_error_messages_total 3.0" in text
    assert "velo_unique_error_types 2.0" in text
    assert "velo_buffered_error_messages 2.0" in text
    assert 'velo_buffered_error_occurrences{message="Connection failed"} 2.0' in text
    assert 'velo_buffered_error_occurrences{message="Timeout error"} 1.0' in text


def test_spec_example_2_query_error_tracking() -> None:
    metrics = MetricsProvider()
    metrics.record_sql_query_with_error(
        "stream_processing",
        timedelta(milliseconds=500),
        False,
        100,
        "Batch processing failed: memory exhausted",
    )
    metrics.sync_error_metrics()

    assert metrics.get_total_errors() == 1
    [entry] = metrics.get_error_messages()
    assert entry.message == "Batch processing failed: memory exhausted"
    text = metrics.get_metrics_text()
    assert 'velo_sql_queries_total{query_type="stream_processing",status="error"} 1.0' in text
    assert 'velo_sql_query_errors_total{query_type="stream_processing"} 1.0' in text
    assert 'velo_sql_records_processed_total{query_type="stream_processing"} 100.0' in text
    assert 'velo_sql_query_duration_seconds_bucket{le="0.5",query_type="stream_processing"} 1.0' in text
    assert 'velo_sql_query_duration_seconds_bucket{le="0.25",query_type="stream_processing"} 0.0' in text
    assert 'velo_sql_query_duration_seconds_sum{query_type="stream_processing"} 0.5' in text


def test_spec_example_3_error_statistics() -> None:
    metrics = MetricsProvider()
    for message, times in [("disk full", 4), ("network down", 2), ("bad input", 7), ("oom", 1)]:
        for _ in range(times):
            metrics.record_error_message(message)

    stats = metrics.get_error_stats()
    assert isinstance(stats, ErrorStats)
    assert stats.total_errors == 14
    assert stats.unique_errors == 4
    top = stats.get_top_errors(5)
    assert top == [("bad input", 7), ("disk full", 4), ("network down", 2), ("oom", 1)]
    assert metrics.get_top_errors(2) == [("bad input", 7), ("disk full", 4)]


def test_accessors_agree_with_one_snapshot() -> None:
    metrics = MetricsProvider(TrackerConfig(buffer_capacity=3))
    for i in range(5):
        metrics.record_error_message(f"error kind {'abcde'[i]}")
    assert metrics.get_total_errors() == 5
    assert metrics.get_unique_error_types() == 5
    assert metrics.get_buffered_error_count() == 3
    messages = metrics.get_error_messages()
    assert [e.message for e in messages] == ["error kind e", "error kind d", "error kind c"]
    assert all(isinstance(e, ErrorEntry) for e in messages)
    assert messages[0].last_seen >= messages[-1].last_seen
    assert messages[0].timestamp == int(messages[0].first_seen)


def test_reset_clears_tracking_but_keeps_sql_metrics() -> None:
    metrics = MetricsProvider()
    metrics.record_sql_query_with_error("select", 0.01, False, 0, "Database offline")
    metrics.reset_error_tracking()
    assert metrics.get_total_errors() == 0
    assert metrics.get_unique_error_types() == 0
    assert metrics.get_error_messages() == []
    assert metrics.get_top_errors(5) == []
    text = metrics.get_metrics_text()
    assert "velo_error_messages_total 0.0" in text
    assert "velo_buffered_error_occurrences{" not in text
    assert 'velo_sql_query_errors_total{query_type="select"} 1.0' in text


def test_grouping_and_scrubbing_reach_the_provider() -> None:
    metrics = MetricsProvider()
    metrics.record_error_message("Connection timeout after 31ms to 10.0.0.7")
    metrics.record_error_message("Connection timeout after 45ms to 10.0.0.9")
    metrics.record_error_message("login failed: password=hunter2secret")
    assert metrics.get_unique_error_types() == 2
    text = metrics.get_metrics_text()
    assert "hunter2secret" not in text
    assert "10.0.0.7" not in text
    top = dict(metrics.get_top_errors(5))
    assert any(count == 2 and "timeout" in msg for msg, count in top.items())


def test_accepted_message_types() -> None:
    metrics = MetricsProvider(TrackerConfig(fingerprinting=False))
    metrics.record_error_message(b"raw \xff bytes")
    metrics.record_error_message(ValueError("bad value"))
    metrics.record_error_message(RuntimeError())
    messages = {e.message for e in metrics.get_error_messages()}
    assert "raw \ufffd bytes" in messages
    assert "ValueError: bad value" in messages
    assert "RuntimeError" in messages


@pytest.mark.parametrize("bad", [None, 42, 3.5, ["list"], {"a": 1}, object()])
def test_wrong_message_type_is_a_clear_type_error(bad: object) -> None:
    metrics = MetricsProvider()
    with pytest.raises(TypeError, match=type(bad).__name__):
        metrics.record_error_message(bad)  # type: ignore[arg-type]
    assert metrics.get_total_errors() == 0


@pytest.mark.parametrize(
    "message",
    ["", " ", "\n\n", "\x00\x01", "\ud800 lone surrogate", "x" * 1_000_000, "é" * 300, "\\\"'{}"],
)
def test_strange_but_legal_messages_never_raise(message: str) -> None:
    metrics = MetricsProvider()
    metrics.record_error_message(message)
    metrics.get_metrics_text()
    for entry in metrics.get_error_messages():
        assert len(entry.message) <= metrics.config.max_message_length
        assert "\n" not in entry.message


def test_exception_whose_str_raises_is_still_recorded() -> None:
    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    metrics = MetricsProvider()
    metrics.record_error_message(Nasty())
    assert metrics.get_total_errors() == 1
    assert metrics.get_error_messages()[0].message.startswith("Nasty")


def test_disabled_tracking() -> None:
    metrics = MetricsProvider(TrackerConfig(enabled=False))
    metrics.record_error_message("ignored")
    metrics.record_sql_query_with_error("select", 0.1, True, 3)
    assert metrics.get_error_stats() is None
    assert metrics.get_total_errors() == 0
    assert metrics.get_top_errors(3) == []
    text = metrics.get_metrics_text()
    assert "velo_error_messages_total" not in text
    assert 'velo_sql_queries_total{query_type="select",status="success"} 1.0' in text
    with pytest.raises(TypeError):
        metrics.record_error_message(5)  # type: ignore[arg-type]


def test_hook_can_drop_messages() -> None:
    metrics = MetricsProvider(TrackerConfig(before_record=lambda m: None if "noise" in m else m))
    metrics.record_error_message("noise: ignore me")
    metrics.record_error_message("real failure")
    assert [e.message for e in metrics.get_error_messages()] == ["real failure"]
    assert metrics.get_total_errors() == 1


def test_internal_failure_is_swallowed_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    metrics = MetricsProvider()

    def explode(key: str) -> None:
        raise RuntimeError("internal bug")

    metrics._tracker.record = explode  # type: ignore[union-attr, method-assign]
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        metrics.record_error_message("one")
        metrics.record_error_message("two")
    assert len([r for r in caplog.records if r.name == "velo_tracker"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"query_type": 1}, TypeError, "query_type"),
        ({"duration": "1s"}, TypeError, "duration"),
        ({"duration": -1.0}, ValueError, "duration"),
        ({"duration": float("nan")}, ValueError, "duration"),
        ({"success": "no"}, TypeError, "success"),
        ({"record_count": 1.5}, TypeError, "record_count"),
        ({"record_count": -1}, ValueError, "record_count"),
    ],
)
def test_sql_misuse_names_the_argument(kwargs: dict, error: type, names: str) -> None:
    args = {"query_type": "select", "duration": 0.1, "success": True, "record_count": 1, **kwargs}
    metrics = MetricsProvider()
    with pytest.raises(error, match=names):
        metrics.record_sql_query_with_error(**args)


def test_successful_query_ignores_its_error_message() -> None:
    metrics = MetricsProvider()
    metrics.record_sql_query_with_error("select", 0.002, True, 5, "not an error")
    assert metrics.get_total_errors() == 0


def test_query_types_are_capped() -> None:
    metrics = MetricsProvider(TrackerConfig(max_query_types=3))
    for i in range(10):
        metrics.record_sql_query_with_error(f"type{i}", 0.01, True, 1)
    text = metrics.get_metrics_text()
    for i in range(3):
        assert f'velo_sql_records_processed_total{{query_type="type{i}"}} 1.0' in text
    assert 'velo_sql_records_processed_total{query_type="other"} 7.0' in text
    assert 'query_type="type5"' not in text


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("buffer_capacity", 0),
        ("buffer_capacity", "10"),
        ("max_message_length", 3),
        ("namespace", "bad-name"),
        ("namespace", "1abc"),
        ("top_errors_capacity", 0),
        ("exact_unique_limit", -1),
        ("max_query_types", 0),
        ("sql_duration_buckets", (1.0, 0.5)),
        ("sql_duration_buckets", ()),
        ("before_record", "not callable"),
        ("enabled", "yes"),
    ],
)
def test_invalid_settings_name_the_setting(setting: str, value: object) -> None:
    with pytest.raises(ValueError, match=setting):
        TrackerConfig(**{setting: value})


def test_config_type_is_checked() -> None:
    with pytest.raises(TypeError, match="TrackerConfig"):
        MetricsProvider({"buffer_capacity": 5})  # type: ignore[arg-type]


def test_namespace_prefixes_every_metric() -> None:
    metrics = MetricsProvider(TrackerConfig(namespace="myapp"))
    metrics.record_sql_query_with_error("select", 0.1, False, 0, "boom")
    names = {
        line.split()[2] for line in metrics.get_metrics_text().splitlines() if line.startswith("# TYPE")
    }
    assert names and all(name.startswith("myapp_") for name in names)


def _letters(i: int) -> str:
    out = []
    while True:
        i, digit = divmod(i, 26)
        out.append("abcdefghijklmnopqrstuvwxyz"[digit])
        if i == 0:
            return "".join(out)


def test_memory_stays_bounded_through_the_whole_pipeline() -> None:
    """Distinct short and long messages, scrubbed, fingerprinted, cached and counted: bounded memory."""
    import gc
    import tracemalloc

    metrics = MetricsProvider()
    filler = " ".join(["lorem"] * 150)  # ~900 characters: long, yet still cached
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(150_000):
            metrics.record_error_message(f"failure kind {_letters(i)}")
        for i in range(15_000):
            metrics.record_error_message(f"long failure {_letters(i)} {filler}")
        gc.collect()
        grew = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert metrics.get_total_errors() == 165_000
    assert metrics.get_buffered_error_count() == metrics.config.buffer_capacity
    assert metrics.get_unique_error_types() > 150_000 * 0.96
    assert grew < 10 * 1024 * 1024, f"grew {grew / 1e6:.1f} MB"


# -- lifetime: close(), context manager, a second provider in the same registry -------------


def test_close_unregisters_and_context_manager_closes() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    with MetricsProvider(registry=registry) as provider:
        provider.record_error_message("boom")
        assert b"velo_error_messages_total 1.0" in generate_latest(registry)
    assert provider.closed and b"velo_" not in generate_latest(registry)
    provider.close()  # again: nothing happens
    provider.record_error_message("still safe")  # recording after close does not raise
    again = MetricsProvider(registry=registry)  # the names are free again
    assert b"velo_error_messages_total 0.0" in generate_latest(registry)
    again.close()


def test_second_provider_in_a_registry_clear_error_or_replace() -> None:
    import gc

    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    first = MetricsProvider(registry=registry)
    with pytest.raises(ValueError, match=r"already registered in this registry.*replace=True"):
        MetricsProvider(registry=registry)
    other = MetricsProvider(TrackerConfig(namespace="other"), registry=registry)  # another namespace
    second = MetricsProvider(registry=registry, replace=True)
    assert first.closed and not second.closed and not other.closed
    second.record_error_message("x")
    assert b"velo_error_messages_total 1.0" in generate_latest(registry)
    del second
    gc.collect()  # the provider is gone, its collector is still registered
    third = MetricsProvider(registry=registry, replace=True)
    assert b"velo_error_messages_total 0.0" in generate_latest(registry)
    third.close()


def test_name_clash_with_another_collector_is_explained() -> None:
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    Counter("velo_error_messages", "someone else's", registry=registry)
    with pytest.raises(ValueError, match="another collector in the registry already exposes"):
        MetricsProvider(registry=registry)


def test_private_registry_providers_are_collectable() -> None:
    import gc
    import weakref

    ref = weakref.ref(MetricsProvider())
    gc.collect()
    assert ref() is None
