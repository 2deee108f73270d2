"""The simulated workload: reproducible, the intended failure mix, grouping and scrubbing shown."""

from __future__ import annotations

import json

import pytest

from tracker import MetricsProvider
from tracker.demo.scenario import (
    NORMAL_ERROR_TYPES,
    QUERY_TYPES,
    SECRET_FRAGMENTS,
    STORM_TYPES,
    Scenario,
)


def _operations(seed: int, count: int, error_rate: float = 0.5):
    scenario = Scenario(seed, error_rate)
    return [scenario.next_operation() for _ in range(count)]


def test_same_seed_same_workload():
    assert _operations(7, 200) == _operations(7, 200)
    assert _operations(7, 200) != _operations(8, 200)


@pytest.mark.parametrize("error_rate", [0.0, 0.1, 1.0])
def test_error_rate_is_respected(error_rate):
    ops = _operations(1, 2000, error_rate)
    failures = sum(not op.success for op in ops) / len(ops)
    assert failures == pytest.approx(error_rate, abs=0.03)
    for op in ops:
        assert op.query_type in QUERY_TYPES
        assert op.duration >= 0 and op.record_count >= 0
        assert (op.error_message is None) == op.success


def test_error_rate_is_validated():
    with pytest.raises(ValueError, match="error_rate"):
        Scenario(1, 1.5)


def test_failure_mix_has_every_kind_and_leaks_credentials_in_the_raw_text():
    messages = [op.error_message for op in _operations(3, 2000) if op.error_message]
    for marker in ("Query timeout", "Database offline", "Out of memory", "password=", "Bearer "):
        assert any(marker in m for m in messages), marker
    raw = "\n".join(messages)
    for secret in SECRET_FRAGMENTS:
        assert secret in raw  # the raw text carries them: the library has to scrub them


def test_varying_raw_messages_group_into_the_normal_error_types():
    """Durations, ids, addresses and quoted names vary; fingerprinting makes one type per kind."""
    provider = MetricsProvider()
    ops = _operations(5, 3000)
    raw_messages = {op.error_message for op in ops if op.error_message}
    assert len(raw_messages) > 500  # the raw text really varies
    for op in ops:
        provider.record_sql_query_with_error(op.query_type, op.duration, op.success, op.record_count,
                                             op.error_message)
    stats = provider.get_error_stats()
    assert stats.unique_errors == NORMAL_ERROR_TYPES, [e.message for e in stats.entries]
    assert stats.total_errors == sum(not op.success for op in ops)


@pytest.mark.parametrize("order_id", [
    "3f1c2a9e-2800-488f-bf09-941a564d34d3",
    "ccdeeeb1-2800-488f-bf09-941a564d34d3",  # six hex letters before the first digit
    "abcdefab-2800-488f-bf09-941a564d34d3",
])
def test_a_timeout_groups_whatever_its_order_id(order_id):
    provider = MetricsProvider()
    provider.record_error_message("Query timeout after 1532ms for order 0b1c2a9e-1111-4222-8333-944455556666 "
                                  "on 192.0.2.11:5432")
    provider.record_error_message(f"Query timeout after 2001ms for order {order_id} on 198.51.100.7:5432")
    assert provider.get_unique_error_types() == 1, [e.message for e in provider.get_error_messages()]


def test_no_leaked_credential_survives_into_metrics_or_the_json_view():
    provider = MetricsProvider()
    for op in _operations(9, 3000):
        provider.record_sql_query_with_error(op.query_type, op.duration, op.success, op.record_count,
                                             op.error_message)
    exposed = provider.get_metrics_text() + provider.get_metrics_text(openmetrics=True)
    exposed += json.dumps(provider.get_error_stats().to_dict())
    assert "Authentication failed" in exposed  # the failures are there, their secrets are not
    for secret in SECRET_FRAGMENTS:
        assert secret not in exposed


def test_storm_spreads_over_distinct_types_that_stay_distinct():
    provider = MetricsProvider()
    messages = Scenario(11).storm_messages(300, 24)
    assert len(messages) == 300
    for message in messages:
        provider.record_error_message(message)
    stats = provider.get_error_stats()
    assert stats.unique_errors == 24
    assert stats.total_errors == 300
    assert len(stats.entries) == stats.buffer_capacity  # the storm fills the buffer


def test_small_storm_and_bounds():
    scenario = Scenario(2)
    assert len(set(scenario.storm_messages(3, 24))) == 3
    assert scenario.storm_messages(0) == []
    assert len({m.rsplit(" at offset", 1)[0] for m in scenario.storm_messages(1000, 10_000)}) == STORM_TYPES
    with pytest.raises(ValueError):
        scenario.storm_messages(-1)
