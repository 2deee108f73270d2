"""Multi-process mode in the library: mode choice, write-through files, merged reads across real
forked processes (SIGKILL included), reset, corrupt files, bad directories and the byte bound.

Real-server tests (gunicorn, Celery, Prometheus) are in tests/e2e/.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import struct
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tracker import MetricsProvider, TrackerConfig
from tracker.multiprocess import (
    ENV_VAR,
    SharedErrorTracker,
    mark_process_dead,
    multiprocess_directory,
    state_file_bytes,
)
from tracker.sql import SqlQueryMetrics
from tracker.tracking import ErrorTracker

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform has no os.fork")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def state_files(directory: Path, kind: str = "errors") -> list[Path]:
    return sorted(directory.glob(f"velo-tracker.velo.{kind}.*.mmap"))


# -- choosing the mode ----------------------------------------------------------------------


def test_the_environment_variable_switches_multiprocess_mode_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    provider = MetricsProvider()
    assert isinstance(provider._tracker, SharedErrorTracker)
    provider.record_error_message("boom")
    assert len(state_files(tmp_path)) == 1
    assert len(state_files(tmp_path, "sql")) == 1
    assert not list(tmp_path.glob("*.db"))  # never collides with prometheus_client's files


def test_the_config_setting_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert multiprocess_directory(TrackerConfig(multiprocess_dir=other)) == str(other)
    single = MetricsProvider(TrackerConfig(multiprocess_dir=""))
    assert type(single._tracker) is ErrorTracker
    assert type(single._sql) is SqlQueryMetrics
    monkeypatch.delenv(ENV_VAR)
    assert multiprocess_directory(TrackerConfig()) is None


def test_a_missing_directory_is_a_value_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    with pytest.raises(ValueError, match=str(missing)):
        MetricsProvider(TrackerConfig(multiprocess_dir=missing))


def test_an_unwritable_directory_is_a_value_error_naming_it(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        directory = Path("/proc")  # root may write anywhere on disk, but not create files in /proc
    else:
        directory = tmp_path / "read-only"
        directory.mkdir(mode=0o500)
    with pytest.raises(ValueError, match=str(directory)):
        MetricsProvider(TrackerConfig(multiprocess_dir=directory))


def test_a_bad_setting_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="multiprocess_dir"):
        TrackerConfig(multiprocess_dir=3)  # type: ignore[arg-type]


# -- merged reads in one process ----------------------------------------------------------


def shared(directory: Path, clock: Clock, **settings_: int) -> SharedErrorTracker:
    return SharedErrorTracker(str(directory), TrackerConfig(multiprocess_dir=directory, **settings_), clock)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stream=st.lists(st.sampled_from([f"error {c}" for c in "abcdefg"] + ["é ☃ 𝄞", ""]), max_size=60),
    workers=st.lists(st.integers(0, 2), min_size=1, max_size=5),
    capacity=st.integers(1, 4),
    top_capacity=st.integers(1, 5),
    exact_limit=st.integers(0, 10),
)
def test_merged_snapshot_agrees_with_one_tracker_fed_everything(
    tmp_path_factory: pytest.TempPathFactory, stream: list[str], workers: list[int], capacity: int,
    top_capacity: int, exact_limit: int,
) -> None:
    directory = tmp_path_factory.mktemp("mp")
    clock = Clock()
    settings_ = {"buffer_capacity": capacity, "top_errors_capacity": top_capacity,
                 "exact_unique_limit": exact_limit}
    trackers = [shared(directory, clock, **settings_) for _ in range(max(workers) + 1)]
    reference = ErrorTracker(capacity, exact_limit, top_capacity, clock)
    for i, key in enumerate(stream):
        clock.now += 1.0
        trackers[workers[i % len(workers)]].record(key)
        reference.record(key)
    expected = reference.snapshot()
    for tracker in trackers:  # any worker answers with the same view
        stats = tracker.snapshot()
        assert stats.total_errors == expected.total_errors == len(stream)
        assert [(e.message, e.last_seen) for e in stats.entries] == [
            (e.message, e.last_seen) for e in expected.entries
        ]
        if expected.unique_errors_estimated:
            assert stats.unique_errors_estimated
            assert stats.unique_errors >= exact_limit + 1
        else:
            assert stats.unique_errors == expected.unique_errors == len(set(stream))
        truth = Counter(stream)
        for top in stats.top_errors:
            assert top.count - top.error <= truth[top.message] <= top.count
        if len(truth) <= min(capacity, top_capacity):
            assert stats == expected


def test_counts_survive_the_trackers_that_wrote_them(tmp_path: Path) -> None:
    clock = Clock()
    first = shared(tmp_path, clock)
    for _ in range(5):
        first.record("worker one failed")
    second = shared(tmp_path, clock)
    second.record("worker two failed")
    del first  # its file stays: a dead worker's contribution is kept
    stats = second.snapshot()
    assert stats.total_errors == 6
    assert stats.get_top_errors() == [("worker one failed", 5), ("worker two failed", 1)]


def test_metrics_text_reports_the_merged_view_and_sql_sums(tmp_path: Path) -> None:
    config = TrackerConfig(multiprocess_dir=tmp_path)
    workers = [MetricsProvider(config) for _ in range(3)]
    reference = MetricsProvider(TrackerConfig(multiprocess_dir=""))
    durations = [0.0004, 0.003, 0.02, 0.2, 3.0, 45.0]
    for i in range(30):
        worker = workers[i % 3]
        for provider in (worker, reference):
            provider.record_error_message(f"timeout on shard {'abc'[i % 3]}x")
            provider.record_sql_query_with_error(
                ["select", "insert"][i % 2], durations[i % len(durations)], i % 4 != 0, i
            )
    ours, theirs = samples(workers[1].get_metrics_text()), samples(reference.get_metrics_text())
    for key, value in theirs.items():
        name = key[0]
        if "timestamp" in name:
            continue
        assert ours[key] == pytest.approx(value), key
    assert ours[("velo_error_messages_total", ())] == 30
    assert ours[("velo_sql_query_duration_seconds_bucket", (("le", "+Inf"), ("query_type", "select")))] == 15


def test_reset_resets_every_process_and_reads_as_one_counter_reset(tmp_path: Path) -> None:
    clock = Clock()
    a, b = shared(tmp_path, clock), shared(tmp_path, clock)
    for _ in range(4):
        a.record("a failed")
        b.record("b failed")
    assert b.snapshot().total_errors == 8
    a.reset()
    # b has not recorded since: its old state is not counted, from either view.
    assert a.snapshot().total_errors == b.snapshot().total_errors == 0
    assert b.snapshot().entries == ()
    b.record("b failed")
    a.record("a failed")
    stats = a.snapshot()
    assert stats.total_errors == 2
    assert stats.get_top_errors() == [("a failed", 1), ("b failed", 1)]
    assert stats.unique_errors == 2


def test_state_is_bounded_in_bytes_whatever_the_input(tmp_path: Path) -> None:
    config = TrackerConfig(multiprocess_dir=tmp_path, exact_unique_limit=500, top_errors_capacity=50)
    provider = MetricsProvider(config)
    tracker = provider._tracker
    for i in range(3000):
        tracker.record(f"distinct failure {i} " + "x" * (i % 900))  # long and short keys
        provider.record_sql_query_with_error(f"query type {i}", 0.01, False, 1)
    sizes = sum(path.stat().st_size for path in tmp_path.glob("velo-tracker.velo.*.*.*.mmap"))
    assert sizes == state_file_bytes(config)
    assert len(tracker._slots) <= config.buffer_capacity
    assert len(tracker._top_counts) <= config.top_errors_capacity
    assert tracker._hashes is None  # past the exact limit only the fixed-size registers remain
    stats = provider.get_error_stats()
    assert stats.total_errors == 3000
    assert stats.unique_errors_estimated
    assert abs(stats.unique_errors - 3000) < 3000 * 0.05
    assert len(provider._sql.snapshot()) == config.max_query_types + 1  # + "other"


def test_default_bound_per_worker() -> None:
    # The figure the README states (errors file + SQL file, default settings).
    assert state_file_bytes(TrackerConfig()) == 1_205_560


# -- real processes -------------------------------------------------------------------------


def run_child(body: object) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            body()  # type: ignore[operator]
            code = 0
        finally:
            os._exit(code)
    return pid


def wait(pid: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not exit in 30 s")


@needs_fork
def test_forked_workers_get_their_own_files_and_one_merged_view(tmp_path: Path) -> None:
    # The gunicorn --preload case: the master made the provider before forking its workers.
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    reference = MetricsProvider(TrackerConfig(multiprocess_dir=""))
    provider.record_error_message("master failed at start")
    reference.record_error_message("master failed at start")
    read, write = os.pipe()

    def worker(n: int, target: MetricsProvider = provider) -> None:
        for i in range(10 * (n + 1)):
            target.record_error_message(f"worker failure: {'abc'[i % 3]} stage")
        target.record_sql_query_with_error("select", 0.01, False, 1)

    def killed() -> None:
        for _ in range(7):
            provider.record_error_message("recorded just before SIGKILL")
        os.write(write, b"x")
        time.sleep(60)  # killed here

    pids = [run_child(lambda n=n: worker(n)) for n in range(3)]
    victim = run_child(killed)
    assert os.read(read, 1) == b"x"
    os.kill(victim, signal.SIGKILL)
    assert os.WTERMSIG(wait(victim)) == signal.SIGKILL
    assert all(wait(pid) == 0 for pid in pids)
    files = state_files(tmp_path)
    assert len(files) == 5  # the master and each worker: no worker wrote into another's file
    for n in range(3):
        worker(n, reference)
    for _ in range(7):
        reference.record_error_message("recorded just before SIGKILL")
    stats, expected = provider.get_error_stats(), reference.get_error_stats()
    assert stats.total_errors == 1 + 10 + 20 + 30 + 7
    assert stats.top_errors == expected.top_errors
    assert stats.unique_errors == expected.unique_errors == 5
    assert {e.message: e.count for e in stats.entries} == {e.message: e.count for e in expected.entries}
    text = samples(provider.get_metrics_text())
    assert text[("velo_error_messages_total", ())] == 68
    assert text[("velo_sql_queries_total", (("query_type", "select"), ("status", "error")))] == 3
    mark_process_dead(victim, tmp_path)  # keeps its contribution
    assert provider.get_total_errors() == 68


@needs_fork
def test_forked_children_with_a_salted_hash_agree_on_unique_types(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))

    def worker() -> None:
        for c in "abcde":
            provider.record_error_message(f"failure {c}")

    assert all(wait(pid) == 0 for pid in [run_child(worker) for _ in range(3)])
    assert provider.get_unique_error_types() == 5


# -- damaged files --------------------------------------------------------------------------


def test_a_corrupt_or_truncated_file_is_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    provider.record_error_message("a real error")
    good = state_files(tmp_path)[0]
    (tmp_path / "velo-tracker.velo.errors.999999.deadbeef.mmap").write_bytes(b"garbage" * 100)
    truncated = tmp_path / "velo-tracker.velo.errors.999998.deadbeef.mmap"
    truncated.write_bytes(good.read_bytes()[:4096])
    flipped = bytearray(good.read_bytes())
    flipped[16 * 8] ^= 0xFF  # a layout word: the checksum no longer matches
    (tmp_path / "velo-tracker.velo.errors.999997.deadbeef.mmap").write_bytes(bytes(flipped))
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        for _ in range(3):
            assert provider.get_total_errors() == 1
            assert "velo_error_messages_total 1.0" in provider.get_metrics_text()
    warnings = [r.getMessage() for r in caplog.records if r.name == "velo_tracker"]
    assert len(warnings) == 3  # one per bad file, not one per scrape
    assert all("skipping velo-tracker.velo.errors.99999" in w for w in warnings)


def test_a_slot_left_half_written_is_skipped_never_a_hang(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    tracker = shared(tmp_path, clock)
    tracker.record("first")
    tracker.record("second")
    # A writer killed between the two version stores leaves a slot's version odd for good.
    word = tracker._slots["first"][0]
    tracker._w[word] += 1
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        stats = tracker.snapshot()
    assert [e.message for e in stats.entries] == ["second"]
    assert stats.total_errors == 2  # the total does not depend on the damaged slot
    assert any("half-written" in r.getMessage() for r in caplog.records)


def test_a_file_from_another_layout_version_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    provider.record_error_message("kept")
    data = bytearray(state_files(tmp_path)[0].read_bytes())
    struct.pack_into("<Q", data, 8, 99 | 1 << 32)  # version 99
    (tmp_path / "velo-tracker.velo.errors.999996.deadbeef.mmap").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        assert provider.get_total_errors() == 1
    assert any("unsupported version" in r.getMessage() for r in caplog.records)


def test_files_are_renamed_into_place_complete(tmp_path: Path) -> None:
    MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    assert not list(tmp_path.glob("*.tmp"))
    assert {p.name.split(".")[2] for p in tmp_path.iterdir()} == {"errors", "sql", "control"}


def test_mark_process_dead_needs_a_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ValueError, match=ENV_VAR):
        mark_process_dead(12345)


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("the multi-process mode is tested on Linux")


# -- exited workers folded into an archive ---------------------------------------------------


def exited_workers(provider: MetricsProvider, count: int, per_worker: int) -> list[int]:
    """Fork ``count`` workers that record and exit; returns their pids (reaped)."""

    def worker(n: int) -> None:
        for i in range(per_worker):
            provider.record_error_message(f"worker failure: {'abcdefg'[(i + n) % 7]} stage")
            provider.record_sql_query_with_error(f"query {'xyz'[i % 3]}", 0.002 * i, i % 2 == 0, i)
        provider.record_error_message(f"worker {'abcdefghijklmnopqrstuvwxyz'[n % 26]} only")

    pids = [run_child(lambda n=n: worker(n)) for n in range(count)]
    assert all(wait(pid) == 0 for pid in pids)
    return pids


def full_view(provider: MetricsProvider) -> tuple:
    """Everything but the top errors' counts (a merge of merged summaries keeps their bounds,
    not necessarily the same bounds): totals, unique types, buffer, SQL, dropped counts."""
    stats = provider.get_error_stats()
    text = {k: v for k, v in samples(provider.get_metrics_text()).items() if "timestamp" not in k[0]}
    return dataclasses.replace(stats, top_errors=()), text, stats.top_errors_exact


def exact_counts(count: int, per_worker: int) -> Counter[str]:
    reference = MetricsProvider(TrackerConfig(multiprocess_dir="", top_errors_capacity=1000))
    reference.record_error_message("master failed")
    for n in range(count):
        for i in range(per_worker):
            reference.record_error_message(f"worker failure: {'abcdefg'[(i + n) % 7]} stage")
        reference.record_error_message(f"worker {'abcdefghijklmnopqrstuvwxyz'[n % 26]} only")
    return Counter(dict(reference.get_top_errors(1000)))


@needs_fork
def test_mark_process_dead_folds_a_workers_files_into_one_archive_and_changes_no_reading(
    tmp_path: Path,
) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path, top_errors_capacity=5))
    provider.record_error_message("master failed")
    pids = exited_workers(provider, 4, 30)
    before = full_view(provider)
    assert before[0].total_errors == 1 + 4 * 31
    truth = exact_counts(4, 30)
    for pid in pids:
        mark_process_dead(pid, tmp_path)
        assert full_view(provider) == before  # every figure, after each fold
        for top in provider.get_error_stats().top_errors:  # and the top errors keep their bounds
            assert top.count - top.error <= truth[top.message] <= top.count
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not any(f".{pid}." in name for pid in pids for name in names)  # the workers' files are gone
    assert len(state_files(tmp_path)) == 2  # the master's and one archive
    assert len(state_files(tmp_path, "sql")) == 2
    assert [p.name.split(".")[4] for p in state_files(tmp_path) if ".archive." in p.name] == ["000000000004"]


@needs_fork
def test_readers_never_see_a_worker_twice_or_not_at_all_while_it_is_archived(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    reader = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    pids = exited_workers(provider, 6, 20)
    expected = 6 * 21
    seen: list[int] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            seen.append(reader.get_total_errors())

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        for pid in pids:
            mark_process_dead(pid, tmp_path)
    finally:
        stop.set()
        thread.join(30)
    assert seen and set(seen) == {expected}
    assert reader.get_total_errors() == expected


@needs_fork
def test_the_directory_stays_small_however_often_workers_are_replaced(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    for _ in range(12):
        for pid in exited_workers(provider, 1, 3):
            mark_process_dead(pid, tmp_path)
    assert provider.get_total_errors() == 12 * 4
    assert len(list(tmp_path.iterdir())) == 2 + 2 + 2  # control + lock, the provider's two, two archives
    assert provider.get_unique_error_types() == 4


@needs_fork
def test_mark_process_dead_leaves_a_running_process_alone(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    provider.record_error_message("still running")
    mark_process_dead(os.getpid(), tmp_path)
    assert len(state_files(tmp_path)) == 1 and ".archive." not in state_files(tmp_path)[0].name
    provider.record_error_message("still running")
    assert provider.get_total_errors() == 2


@needs_fork
def test_an_archive_from_before_a_reset_counts_nothing(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    for pid in exited_workers(provider, 2, 5):
        mark_process_dead(pid, tmp_path)
    assert provider.get_total_errors() == 12
    provider.reset_error_tracking()
    assert provider.get_total_errors() == 0
    pids = exited_workers(provider, 1, 2)
    mark_process_dead(pids[0], tmp_path)
    assert provider.get_total_errors() == 3


@needs_fork
def test_a_forked_child_that_never_records_leaves_no_file(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert wait(run_child(lambda: provider.get_error_stats())) == 0  # reads, never records
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    def sql_only() -> None:
        provider.record_sql_query_with_error("select", 0.01, True, 1)

    child = run_child(sql_only)
    assert wait(child) == 0
    assert [p for p in tmp_path.iterdir() if f".{child}." in p.name] == [
        p for p in state_files(tmp_path, "sql") if f".{child}." in p.name
    ]
    assert len([p for p in tmp_path.iterdir() if f".{child}." in p.name]) == 1
    assert samples(provider.get_metrics_text())[
        ("velo_sql_queries_total", (("query_type", "select"), ("status", "success")))
    ] == 1


def test_threads_recording_into_a_shared_tracker_lose_and_double_count_nothing(tmp_path: Path) -> None:
    config = TrackerConfig(multiprocess_dir=tmp_path, buffer_capacity=3, top_errors_capacity=4)
    provider = MetricsProvider(config)
    per_thread, keys = 3000, [f"failure {c}" for c in "abcdefgh"]

    def work(n: int) -> None:
        for i in range(per_thread):
            provider.record_error_message(keys[(i * (n + 1)) % len(keys)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stats = provider.get_error_stats()
    assert stats.total_errors == 8 * per_thread
    assert stats.unique_errors == len(keys)
    assert sum(t.count for t in stats.top_errors) == 8 * per_thread  # Space-Saving's counts add up


@needs_fork
def test_a_reset_in_one_process_clears_a_running_worker_at_its_next_record(tmp_path: Path) -> None:
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=tmp_path))
    go, done = os.pipe(), os.pipe()

    def worker() -> None:
        for _ in range(5):
            provider.record_error_message("before the reset")
        os.write(done[1], b"1")
        assert os.read(go[0], 1) == b"r"  # the parent has reset the service
        provider.record_error_message("after the reset")
        os.write(done[1], b"2")

    child = run_child(worker)
    assert os.read(done[0], 1) == b"1"
    provider.record_error_message("before the reset")
    assert provider.get_total_errors() == 6
    provider.reset_error_tracking()
    assert provider.get_total_errors() == 0  # the worker's state is from the old generation
    os.write(go[1], b"r")
    assert os.read(done[0], 1) == b"2"
    assert wait(child) == 0
    stats = provider.get_error_stats()
    assert stats.total_errors == 1
    assert [e.message for e in stats.entries] == ["after the reset"]


def test_a_directory_removed_under_a_running_service_never_fails_a_scrape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir()
    provider = MetricsProvider(TrackerConfig(multiprocess_dir=directory))
    provider.record_error_message("recorded")
    assert provider.get_total_errors() == 1
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    provider.record_error_message("recorded")  # into the still-mapped file
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        assert "velo_error_messages_total 2.0" in provider.get_metrics_text()
    assert any("cannot list the directory" in r.getMessage() for r in caplog.records)
    mark_process_dead(999_999_999, directory)  # a hook on a missing directory: a warning, no error
