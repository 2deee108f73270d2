"""Records the tracker does not make, counted in velo_error_tracking_dropped_total{reason}:
re-entrant records (a signal handler or a hook recording while its thread is inside the
tracker) never hang; messages dropped by before_record; the tracker's own failures."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import PROJECT_ROOT
from tracker import MetricsProvider, TrackerConfig
from tracker.names import DROP_BEFORE_RECORD, DROP_INTERNAL, DROP_REASONS, DROP_REENTRANT

DEADLINE = 60.0

CHILD = textwrap.dedent("""
    import json, os, signal, sys
    from tracker import MetricsProvider, TrackerConfig

    provider = MetricsProvider(TrackerConfig(multiprocess_dir=sys.argv[1]))
    handled = []

    def handler(signum, frame):
        provider.record_error_message("recorded by the signal handler")
        handled.append(signum)

    signal.signal(signal.SIGUSR1, handler)

    class Interrupting(str):
        sent = False

        def __hash__(self):
            # Runs inside record(), with the lock held: the handler runs right here.
            if not Interrupting.sent:
                Interrupting.sent = True
                os.kill(os.getpid(), signal.SIGUSR1)
            return str.__hash__(self)

    class Recording(str):
        done = False

        def __hash__(self):
            # A hook that records from inside a record (same thread, lock held).
            if not Recording.done:
                Recording.done = True
                provider.record_error_message("recorded from inside a record")
            return str.__hash__(self)

    provider._tracker.record(Interrupting("main thread error"))
    provider._tracker.record(Recording("another main thread error"))
    provider.record_error_message("after the re-entrant calls")
    stats = provider.get_error_stats()
    print(json.dumps({
        "handled": len(handled),
        "total": stats.total_errors,
        "messages": sorted(e.message for e in stats.entries),
        "dropped": dict(stats.dropped),
        "text": provider.get_metrics_text(),
    }))
""")


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_a_record_from_a_signal_handler_while_the_lock_is_held_is_dropped_and_counted(
    mode: str, tmp_path: Path
) -> None:
    directory = str(tmp_path) if mode == "multi" else ""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, directory], capture_output=True, text=True, timeout=DEADLINE,
            cwd=PROJECT_ROOT, env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the re-entrant record hung (no answer in {DEADLINE:.0f} s)")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["handled"] == 1  # the handler ran, and returned
    assert result["total"] == 3
    assert result["messages"] == [
        "after the re-entrant calls", "another main thread error", "main thread error"
    ]
    assert result["dropped"] == {DROP_REENTRANT: 2, DROP_BEFORE_RECORD: 0, DROP_INTERNAL: 0}
    assert dropped(result["text"]) == {DROP_REENTRANT: 2.0, DROP_BEFORE_RECORD: 0.0, DROP_INTERNAL: 0.0}


def dropped(text: str) -> dict[str, float]:
    for family in text_string_to_metric_families(text):
        if family.name == "velo_error_tracking_dropped":
            return {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")}
    raise AssertionError("no velo_error_tracking_dropped_total in the exposition")


@pytest.mark.parametrize("directory", ["", "tmp"])
def test_messages_dropped_by_before_record_are_counted(directory: str, tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(
        before_record=lambda m: None if "health check" in m else m,
        multiprocess_dir=str(tmp_path) if directory else "",
    ))
    for _ in range(3):
        provider.record_error_message("health check failed")  # cached after the first: still counted
    provider.record_error_message("real failure")
    assert provider.get_total_errors() == 1
    assert dropped(provider.get_metrics_text())[DROP_BEFORE_RECORD] == 3


def test_internal_failures_are_counted_every_time(caplog: pytest.LogCaptureFixture) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=""))

    def explode(key: str) -> None:
        raise RuntimeError("internal bug")

    provider._tracker.record = explode  # type: ignore[union-attr, method-assign]
    provider.record_error_message("one")
    provider.record_error_message("two")
    assert dropped(provider.get_metrics_text())[DROP_INTERNAL] == 2


def test_every_reason_is_exposed_from_the_start() -> None:
    counts = dropped(MetricsProvider(TrackerConfig(multiprocess_dir="")).get_metrics_text())
    assert counts == dict.fromkeys(DROP_REASONS, 0.0)


def test_dropped_counts_survive_a_reset() -> None:
    provider = MetricsProvider(TrackerConfig(before_record=lambda m: None, multiprocess_dir=""))
    provider.record_error_message("dropped")
    provider.reset_error_tracking()
    assert dropped(provider.get_metrics_text())[DROP_BEFORE_RECORD] == 1
