"""Multi-process mode: each process writes its state through to memory-mapped files, and every
read (scrape, ``get_error_stats()``, the JSON view) merges the files of all processes.

The mode is chosen once, here (:func:`make_state`), as ``prometheus_client``'s ``values.py``
chooses its value class: ``TrackerConfig.multiprocess_dir`` when set, else the
``PROMETHEUS_MULTIPROC_DIR`` environment variable users already set for ``prometheus_client``.

Files (never ``*.db``, so ``prometheus_client``'s ``MultiProcessCollector`` ignores them)::

    velo-tracker.<namespace>.errors.<pid>.<token>.mmap   a process's errors: total, buffer,
                                                         top errors, unique-type sketch
    velo-tracker.<namespace>.sql.<pid>.<token>.mmap      a process's SQL query metrics
    velo-tracker.<namespace>.control.mmap                the reset generation, shared

Writing: every file is created complete under a temporary name and renamed into place; after
that a process only stores into its own mapping (no system call on the recording path), so
what it recorded is in the kernel's page cache at once and survives a SIGKILL. A slot whose
key changes is bracketed by a version number made odd then even again (a seqlock), so a
reader never pairs one key with another's counts.

Reading: a file with a bad magic, version, layout checksum or size is skipped with one
warning. Totals and dropped counts add up over every file, dead processes' included, so a
counter never goes down when a worker is restarted or killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import mmap
import os
import secrets
import struct
import threading
import time
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from .buffer import ErrorEntry, Row, merge_buffers
from .config import TrackerConfig
from .names import DROP_REASONS, DROP_REENTRANT, LOGGER_NAME, OTHER_QUERY_TYPE
from .sketches import (
    MASK64,
    merge_registers,
    merge_space_saving,
    merge_unique,
    rank_counters,
    register_index_and_rank,
)
from .sql import QueryTypeSnapshot, SqlQueryMetrics
from .stats import ErrorStats, TopError
from .tracking import ErrorTracker, _wait_for

__all__ = [
    "ENV_VAR",
    "SharedErrorTracker",
    "SharedSqlQueryMetrics",
    "make_state",
    "mark_process_dead",
    "multiprocess_directory",
    "process_totals",
    "state_file_bytes",
]

_log = logging.getLogger(LOGGER_NAME)

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable ``prometheus_client`` reads; the tracker follows it too."""

_MAGIC = int.from_bytes(b"VELOTRK\x01", "little")
_VERSION = 1
_KIND_ERRORS = 1
_KIND_SQL = 2
_HLL_PRECISION = 14
_SQL_NAME_BYTES = 256  # 64 characters of query type, 4 bytes each at most
_RESETTING = MASK64  # generation stored while a process clears its state for a new one
_READ_ATTEMPTS = 50  # a slot seen mid-change is read again this often before it is skipped

# Header: 32 unsigned 64-bit words.
_HEADER_WORDS = 32
_HEADER_BYTES = _HEADER_WORDS * 8
_H_MAGIC, _H_VERSION_KIND, _H_PID, _H_LAYOUT_CRC, _H_GENERATION = 0, 1, 2, 3, 4
_H_TOTAL = 5  # archives only (a worker's total is the sum of its Space-Saving counts)
_H_DROPPED = 6  # 6, 7, 8: one word per reason, in names.DROP_REASONS order
_H_FLAGS, _H_EXACT_COUNT = 9, 10
_H_FLOOR, _H_ABSORBED_BYTES = 11, 12  # archives only: top-errors floor; size of the absorbed-names list
_H_LAYOUT = 16  # 16..: the layout parameters, covered by the checksum
_FLAG_ESTIMATED = 1
_B_WORDS = 5  # buffer slot: version, count, last_seen, first_seen, key length
_T_WORDS = 4  # top-errors slot: version, count, error, key length
_FLAG_EVICTED = 2  # the top-errors summary has replaced a key: its counts are bounds
_FLAG_ARCHIVE = 4  # the merged state of processes that have exited (see mark_process_dead)
_ARCHIVE = "archive"


def _round8(n: int) -> int:
    return (n + 7) & ~7


# -- choosing the mode -----------------------------------------------------------------------


def multiprocess_directory(config: TrackerConfig) -> str | None:
    """The directory of the state files, or ``None`` for single-process mode.

    ``config.multiprocess_dir`` wins; ``""`` forces single-process mode; ``None`` follows
    ``PROMETHEUS_MULTIPROC_DIR`` (and its old lower-case spelling, as ``prometheus_client``).
    """
    setting = config.multiprocess_dir
    if setting is None:
        setting = os.environ.get(ENV_VAR) or os.environ.get(ENV_VAR.lower()) or ""
    path = os.fspath(setting)
    return path or None


def _check_directory(directory: str) -> None:
    if not os.path.isdir(directory):
        raise ValueError(
            f"the multi-process directory {directory!r} does not exist or is not a directory "
            f"(set by TrackerConfig.multiprocess_dir or {ENV_VAR}); create it before starting"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"the multi-process directory {directory!r} is not writable by this process")


def make_state(config: TrackerConfig) -> tuple[ErrorTracker | None, SqlQueryMetrics]:
    """The provider's error tracker (``None`` when disabled) and SQL metrics, for the chosen mode.

    Raises ``ValueError`` naming the directory when it is missing or not writable.
    """
    directory = multiprocess_directory(config)
    if directory is None:
        tracker = (
            ErrorTracker(config.buffer_capacity, config.exact_unique_limit, config.top_errors_capacity)
            if config.enabled
            else None
        )
        return tracker, SqlQueryMetrics(config.max_query_types, config.sql_duration_buckets)
    _check_directory(directory)
    try:
        tracker = SharedErrorTracker(directory, config) if config.enabled else None
        return tracker, SharedSqlQueryMetrics(directory, config)
    except OSError as exc:
        raise ValueError(
            f"cannot write state files in the multi-process directory {directory!r}: {exc}"
        ) from exc


# -- layouts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ErrorsLayout:
    """Where each region of an errors file lives (every offset 8-aligned).

    Buffer slots are records of 5 words ``[version, count, last_seen, first_seen, key_length]``
    (count and last_seen adjacent: a repeated error rewrites both with one store); top-error
    slots are records of 4 words ``[version, count, error, key_length]``; keys live in their
    own fixed-size fields; then the exact hashes and the HyperLogLog registers.
    """

    capacity: int
    key_bytes: int
    top_capacity: int
    exact_limit: int
    precision: int

    @classmethod
    def for_config(cls, config: TrackerConfig) -> _ErrorsLayout:
        # Keys are displayed texts of at most max_message_length characters (4 bytes each in UTF-8).
        return cls(config.buffer_capacity, _round8(4 * config.max_message_length),
                   config.top_errors_capacity, config.exact_unique_limit, _HLL_PRECISION)

    def params(self) -> tuple[int, ...]:
        return (self.capacity, self.key_bytes, self.top_capacity, self.exact_limit, self.precision)

    @functools.cached_property
    def offsets(self) -> dict[str, int]:
        cap, top = self.capacity, self.top_capacity
        sizes = [
            ("b_slots", 8 * _B_WORDS * cap), ("b_keys", cap * self.key_bytes),
            ("t_slots", 8 * _T_WORDS * top), ("t_keys", top * self.key_bytes),
            ("exact", 8 * (self.exact_limit + 1)), ("hll", _round8(1 << self.precision)),
        ]
        offsets, at = {}, _HEADER_BYTES
        for name, size in sizes:
            offsets[name] = at
            at += _round8(size)
        offsets["end"] = at
        return offsets

    @property
    def size(self) -> int:
        return self.offsets["end"]


@dataclass(frozen=True)
class _SqlLayout:
    slots: int
    buckets: tuple[float, ...]

    @classmethod
    def for_config(cls, config: TrackerConfig) -> _SqlLayout:
        return cls(config.max_query_types + 1, config.sql_duration_buckets)  # + "other"

    def params(self) -> tuple[int, ...]:
        return (self.slots, len(self.buckets), _SQL_NAME_BYTES,
                zlib.crc32(struct.pack(f"{len(self.buckets)}d", *self.buckets)))

    @functools.cached_property
    def offsets(self) -> dict[str, int]:
        slots, nb = self.slots, len(self.buckets) + 1
        sizes = [
            ("len", 8 * slots), ("successes", 8 * slots), ("errors", 8 * slots), ("records", 8 * slots),
            ("sum", 8 * slots), ("buckets", 8 * slots * nb), ("names", slots * _SQL_NAME_BYTES),
        ]
        offsets, at = {}, _HEADER_BYTES
        for name, size in sizes:
            offsets[name] = at
            at += _round8(size)
        offsets["end"] = at
        return offsets

    @property
    def size(self) -> int:
        return self.offsets["end"]


def state_file_bytes(config: TrackerConfig) -> int:
    """Bytes of state files one process writes with ``config`` (errors file + SQL file)."""
    errors = _ErrorsLayout.for_config(config).size if config.enabled else 0
    return errors + _SqlLayout.for_config(config).size


def _layout_crc(kind: int, params: tuple[int, ...]) -> int:
    return zlib.crc32(struct.pack(f"<{len(params) + 1}Q", kind, *params))


# -- files -----------------------------------------------------------------------------------


def _file_prefix(namespace: str, kind: str) -> str:
    return f"velo-tracker.{namespace}.{kind}."


def _create_file(directory: str, namespace: str, kind_name: str, kind: int,
                 params: tuple[int, ...], size: int, generation: int) -> tuple[str, mmap.mmap]:
    """A new, complete state file for this process, renamed into place; returns (path, mapping)."""
    pid = os.getpid()
    header = [0] * _HEADER_WORDS
    header[_H_MAGIC] = _MAGIC
    header[_H_VERSION_KIND] = _VERSION | kind << 32
    header[_H_PID] = pid
    header[_H_LAYOUT_CRC] = _layout_crc(kind, params)
    header[_H_GENERATION] = generation
    header[_H_LAYOUT:_H_LAYOUT + len(params)] = params
    final = os.path.join(directory, f"{_file_prefix(namespace, kind_name)}{pid}.{secrets.token_hex(8)}.mmap")
    temporary = f"{final}.tmp"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, struct.pack(f"<{_HEADER_WORDS}Q", *header))
        os.ftruncate(fd, size)
        mapping = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    os.rename(temporary, final)
    return final, mapping


class _Control:
    """The shared control file: the reset generation every process compares with its own."""

    _GENERATION = 1

    def __init__(self, directory: str, namespace: str) -> None:
        self.path = os.path.join(directory, f"{_file_prefix(namespace, 'control')}mmap")
        if not os.path.exists(self.path):
            temporary = f"{self.path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, struct.pack("<Q", _MAGIC))
                os.ftruncate(fd, mmap.PAGESIZE)
            finally:
                os.close(fd)
            try:
                os.link(temporary, self.path)  # never replaces a control file another process made
            except FileExistsError:
                pass
            finally:
                os.unlink(temporary)
        fd = os.open(self.path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, mmap.PAGESIZE)
        finally:
            os.close(fd)
        self.words = memoryview(self._map).cast("Q")
        if self.words[0] != _MAGIC:
            raise ValueError(f"{self.path!r} is not a velo-tracker control file")

    @property
    def generation(self) -> int:
        return self.words[self._GENERATION]

    def advance(self) -> int:
        """Start a new generation (a service-wide reset); returns it."""
        with open(self.path, "rb") as handle:  # its own open file: flock excludes forked processes too
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                generation = self.words[self._GENERATION] + 1
                self.words[self._GENERATION] = generation
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return generation


_SLOT_BODY = struct.Struct("=QddQ")  # count, last_seen, first_seen, key length
_TOP_BODY = struct.Struct("=QQQ")  # count, error, key length


def _stable_hash(key: str) -> int:
    """A 64-bit hash that is the same in every process (``hash()`` is salted per interpreter)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little")


def _fit(key: str, size: int) -> tuple[str, bytes]:
    data = key.encode("utf-8", "surrogatepass")
    if len(data) <= size:
        return key, data
    text = data[:size].decode("utf-8", "ignore")
    return text, text.encode("utf-8", "surrogatepass")


# -- the writer: one process's errors --------------------------------------------------------


class SharedErrorTracker(ErrorTracker):
    """An :class:`ErrorTracker` whose state is written through to this process's file and whose
    reads merge every process's file in the directory."""

    def __init__(self, directory: str, config: TrackerConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config.buffer_capacity, config.exact_unique_limit, config.top_errors_capacity, clock)
        self._directory = directory
        self._namespace = config.namespace
        self._layout = _ErrorsLayout.for_config(config)
        self._control = _Control(directory, config.namespace)
        self._reader = _ErrorsReader(directory, config.namespace, self._layout)
        self._needs_file = False
        self._open_file()

    # -- file and local state --

    def _open_file(self) -> None:
        layout = self._layout
        self._generation = self._control.generation
        self.path, self._map = _create_file(
            self._directory, self._namespace, "errors", _KIND_ERRORS, layout.params(), layout.size,
            self._generation,
        )
        self._views(self._map)
        self._clear_local()

    def _views(self, mapping: mmap.mmap) -> None:
        layout, off = self._layout, self._layout.offsets
        view = memoryview(mapping)
        self._header = view[:_HEADER_BYTES].cast("Q")
        self._w = view.cast("Q")  # the whole file as words, for the stores of the recording path
        self._f = view.cast("d")
        self._b_base = off["b_slots"] // 8
        self._t_base = off["t_slots"] // 8
        self._b_keys = view[off["b_keys"]:off["b_keys"] + layout.capacity * layout.key_bytes]
        self._t_keys = view[off["t_keys"]:off["t_keys"] + layout.top_capacity * layout.key_bytes]
        self._exact = view[off["exact"]:off["exact"] + 8 * (layout.exact_limit + 1)].cast("Q")
        self._hll = view[off["hll"]:off["hll"] + (1 << layout.precision)]
        self._gen_word = self._control.words

    def _clear_local(self) -> None:
        # key -> [first word of its buffer slot, count, first_seen, last_seen], least to most recent
        self._slots.clear()
        base = self._b_base
        self._free_slots = [base + _B_WORDS * i for i in range(self._layout.capacity - 1, -1, -1)]
        self._top.clear()
        self._top_counts = self._top._counts
        self._top_word: dict[str, int] = {}  # key -> the word holding its count
        base = self._t_base
        self._free_top = [base + _T_WORDS * i + 1 for i in range(self._layout.top_capacity - 1, -1, -1)]
        self._hashes: set[int] | None = set()
        self._total = 0

    def _adopt_generation(self) -> None:
        """Another process reset the service: clear this process's state and join the new generation."""
        if self._needs_file:
            self._open_own_file()
            if self._gen_word[1] == self._generation:
                return
        generation = self._control.generation
        header = self._header
        header[_H_GENERATION] = _RESETTING  # readers skip the file while it is cleared
        off = self._layout.offsets
        self._map[off["b_slots"]:off["end"]] = bytes(off["end"] - off["b_slots"])
        header[_H_FLAGS] = 0
        header[_H_EXACT_COUNT] = 0
        self._clear_local()
        self._generation = generation
        header[_H_GENERATION] = generation

    # -- recording --

    def record(self, key: str) -> None:
        """Count one error whose normalized text is ``key`` (written through to the file).

        A repeated error costs three stores into the mapping (count and last-seen of its buffer
        slot, its top-errors count) and one read of the shared generation.
        The total is not stored: Space-Saving's counts always add up to it.
        """
        now = self._clock()
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        if self._busy:
            self._drop_locked(DROP_REENTRANT)
            lock.release()
            return
        self._busy = True
        try:
            if self._gen_word[1] != self._generation:
                self._adopt_generation()
            slots = self._slots
            slot = slots.pop(key, None)
            if slot is not None:
                slots[key] = slot  # most recent again
                count = slot[1] = slot[1] + 1
                word = slot[0]
                self._w[word + 1] = count
                if now > slot[3]:
                    slot[3] = now
                    self._f[word + 2] = now
                elif now < slot[2]:
                    slot[2] = now
                    self._f[word + 3] = now
            else:
                key = self._buffer_new(key, now)
            counts = self._top_counts
            count = counts.get(key)
            if count is not None:
                counts[key] = count = count + 1
                self._w[self._top_word[key]] = count
            else:
                self._top_new(key)
        finally:
            self._busy = False
            lock.release()

    def _buffer_new(self, key: str, now: float) -> str:
        key, data = _fit(key, self._layout.key_bytes)
        slots = self._slots
        slot = slots.get(key)
        if slot is not None:  # a long key cut to one already buffered
            del slots[key]
            slots[key] = slot
            slot[1] += 1
            slot[2], slot[3] = min(slot[2], now), max(slot[3], now)
            self._w[slot[0] + 1] = slot[1]
            self._f[slot[0] + 2], self._f[slot[0] + 3] = slot[3], slot[2]
            return key
        word = self._free_slots.pop() if self._free_slots else slots.pop(next(iter(slots)))[0]
        slots[key] = [word, 1, now, now]
        w = self._w
        version = w[word] + 1
        w[word] = version  # odd: readers leave the slot alone until it is even again
        start = (word - self._b_base) // _B_WORDS * self._layout.key_bytes
        self._b_keys[start:start + len(data)] = data
        _SLOT_BODY.pack_into(self._map, word * 8 + 8, 1, now, now, len(data))
        w[word] = version + 1
        self._add_unique(data)
        return key

    def _add_unique(self, data: bytes) -> None:
        h = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
        index, rank = register_index_and_rank(h, self._layout.precision)
        if rank > self._hll[index]:
            self._hll[index] = rank
        hashes = self._hashes
        if hashes is None or h in hashes:
            return
        hashes.add(h)
        if len(hashes) > self._layout.exact_limit:
            self._hashes = None  # the registers, kept all along, take over
            self._header[_H_FLAGS] |= _FLAG_ESTIMATED
            return
        count = self._header[_H_EXACT_COUNT]
        self._exact[count] = h
        self._header[_H_EXACT_COUNT] = count + 1

    def _top_new(self, key: str) -> None:
        top = self._top
        victim = top._add_new(key)
        if victim is None:
            word = self._free_top.pop()
        else:
            word = self._top_word.pop(victim)
            self._header[_H_FLAGS] |= _FLAG_EVICTED
        self._top_word[key] = word
        data = key.encode("utf-8", "surrogatepass")  # already cut to fit by _buffer_new
        w = self._w
        version_word = word - 1
        version = w[version_word] + 1
        w[version_word] = version
        start = (version_word - self._t_base) // _T_WORDS * self._layout.key_bytes
        self._t_keys[start:start + len(data)] = data
        _TOP_BODY.pack_into(self._map, word * 8, self._top_counts[key], top._errors.get(key, 0), len(data))
        w[version_word] = version + 1

    def _drop_locked(self, reason: str) -> None:
        if self._needs_file:
            self._open_own_file()
        self._dropped[reason] = count = self._dropped.get(reason, 0) + 1
        if reason in DROP_REASONS:
            self._header[_H_DROPPED + DROP_REASONS.index(reason)] = count

    def count_dropped(self, reason: str) -> None:
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        try:
            self._drop_locked(reason)
        finally:
            lock.release()

    # -- reading and resetting --

    def snapshot(self, include_top: bool = True, top_limit: int | None = None) -> ErrorStats:
        """The merged state of every process (this one included), read from their files."""
        if top_limit is not None:
            rank_counters({}, {}, top_limit)  # validates the limit
        merged = self._reader.merge(self._control.generation, include_top)
        counts, errors, _ = merged.top
        return ErrorStats(
            total_errors=merged.total,
            unique_errors=merged.unique[0],
            unique_errors_estimated=merged.unique[1],
            unique_errors_standard_error=merged.unique[2],
            buffer_capacity=self._layout.capacity,
            entries=tuple(ErrorEntry(*row) for row in merged.buffer),
            top_errors=tuple(TopError(*item) for item in rank_counters(counts, errors, top_limit)),
            top_errors_exact=merged.top_exact,
            dropped=merged.dropped,
        )

    def reset(self) -> None:
        """Reset the whole service: a new generation every process joins at its next record."""
        lock = self._lock
        if not lock.acquire(False):
            _wait_for(lock)
        if self._busy:
            lock.release()
            raise RuntimeError("reset_error_tracking() was called from inside a record on the same thread")
        try:
            self._control.advance()
            self._adopt_generation()
        finally:
            lock.release()

    def _after_fork_in_child(self) -> None:
        """A forked child (a gunicorn or Celery worker) gets its own file, starting empty; the
        parent's records stay in the parent's file. The file is created at the child's first
        record (a child that never records, such as one that runs ``exec``, leaves none):
        until then the views point at private memory, and a generation no file has makes the
        recording path's generation check take the slow path once."""
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._reader = _ErrorsReader(self._directory, self._namespace, self._layout)  # its lock may be held
        self._map = mmap.mmap(-1, self._layout.size)
        self._views(self._map)
        self._clear_local()
        self._needs_file = True
        self._generation = -1

    def _open_own_file(self) -> None:
        """After a fork: this process's own file (or, failing that, private memory and a warning)."""
        self._needs_file = False
        dropped = [self._header[_H_DROPPED + i] for i in range(len(DROP_REASONS))]
        try:
            self._open_file()
        except OSError as exc:
            _log.warning("velo-tracker: could not create a state file in %r after fork (%s); "
                         "this process's errors are not shared", self._directory, exc)
            self._generation = self._control.generation
            return
        for i, count in enumerate(dropped):
            self._header[_H_DROPPED + i] = count

    def __repr__(self) -> str:
        return f"SharedErrorTracker(directory={self._directory!r}, capacity={self._layout.capacity})"


# -- the reader: merging every process's errors ----------------------------------------------


@dataclass
class _Merged:
    total: int
    dropped: dict[str, int]
    buffer: list[Row]
    unique: tuple[int, bool, float]
    top: tuple[dict[str, int], dict[str, int], int]
    top_exact: bool


class _Warnings:
    """One warning per bad file (by path)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def once(self, path: str, problem: str) -> None:
        if path not in self._seen:
            self._seen.add(path)
            _log.warning("velo-tracker: skipping %s: %s", os.path.basename(path), problem)


class _MappedFile:
    """A read-only mapping of another (or this) process's file, with its validated header."""

    def __init__(self, path: str, kind: int, layout_of: Callable[[tuple[int, ...]], object | None]) -> None:
        self.path = path
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < _HEADER_BYTES:
                raise ValueError(f"{size} bytes is shorter than a header")
            self.map = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ)
        self.view = memoryview(self.map)
        self.header = self.view[:_HEADER_BYTES].cast("Q")
        header = self.header
        if header[_H_MAGIC] != _MAGIC:
            raise ValueError("not a velo-tracker state file (bad magic)")
        if header[_H_VERSION_KIND] != _VERSION | kind << 32:
            raise ValueError(f"unsupported version or kind {header[_H_VERSION_KIND]:#x}")
        params = tuple(header[_H_LAYOUT:_H_WORDS_END])
        layout = layout_of(params)
        if layout is None:
            raise ValueError("unreadable layout parameters")
        self.params = _trim(params, layout)
        if header[_H_LAYOUT_CRC] != _layout_crc(kind, self.params):
            raise ValueError("layout checksum mismatch")
        expected = layout.size  # type: ignore[attr-defined]
        self.archive = bool(header[_H_FLAGS] & _FLAG_ARCHIVE)
        self.absorbed: frozenset[str] = frozenset()
        if self.archive:
            blob = header[_H_ABSORBED_BYTES]
            if blob > size:
                raise ValueError("bad absorbed-names size")
            self.absorbed = frozenset(bytes(self.view[expected:expected + blob]).decode().split("\n")) - {""}
            expected += _round8(blob)
        if expected != size:
            raise ValueError(f"size {size} does not match its layout ({expected})")
        self.layout = layout
        self.keys: dict[tuple[str, int], tuple] = {}  # SQL: (region, slot) -> (length, name)
        self.slot_keys: dict[str, list] = {}  # errors: region -> per slot (version, generation, key)

    def words(self, name: str, count: int, fmt: str = "Q") -> memoryview:
        at = self.layout.offsets[name]  # type: ignore[attr-defined]
        return self.view[at:at + 8 * count].cast(fmt)

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):  # a view still in use: freed with it
            self.header.release()
            self.view.release()
            self.map.close()


_H_WORDS_END = _HEADER_WORDS


def _archive_seq(name: str) -> int:
    parts = name.split(".")
    return int(parts[4]) if len(parts) == 6 and parts[3] == _ARCHIVE and parts[4].isdigit() else -1


def _trim(params: tuple[int, ...], layout: object) -> tuple[int, ...]:
    return layout.params()  # type: ignore[attr-defined]


def _errors_layout(params: tuple[int, ...]) -> _ErrorsLayout | None:
    capacity, key_bytes, top, exact, precision = params[:5]
    limits = (1 <= capacity <= 1 << 24 and 8 <= key_bytes <= 1 << 20 and key_bytes % 8 == 0
              and 1 <= top <= 1 << 24 and 0 <= exact <= 1 << 28 and 4 <= precision <= 18)
    return _ErrorsLayout(capacity, key_bytes, top, exact, precision) if limits else None


class _Directory:
    """The files of one kind in the directory, mapped once each and kept while they exist."""

    def __init__(self, directory: str, namespace: str, kind_name: str, kind: int,
                 layout_of: Callable[[tuple[int, ...]], object | None]) -> None:
        self._directory = directory
        self._prefix = _file_prefix(namespace, kind_name)
        self._kind = kind
        self._layout_of = layout_of
        self._files: dict[str, _MappedFile] = {}
        self._bad: set[str] = set()
        self.warnings = _Warnings()
        self._lock = threading.Lock()

    def files(self) -> list[_MappedFile]:
        """Every live or dead process's file, plus the newest archive; files an archive has
        absorbed are left out, so nothing is counted twice or missed while one is written."""
        with self._lock:
            for _ in range(_READ_ATTEMPTS):
                files = self._list()
                if files is not None:
                    return files
            return []

    def _list(self) -> list[_MappedFile] | None:
        try:
            listing = os.listdir(self._directory)
        except OSError as exc:  # the directory was removed under a running service
            self.warnings.once(self._directory, f"cannot list the directory ({exc}); reading the open files")
            listing = list(self._files)
        names = [n for n in listing if n.startswith(self._prefix) and n.endswith(".mmap")]
        present = set(names)
        for name in [n for n in self._files if n not in present]:
            self._files.pop(name).close()
        for name in names:
            if name in self._files or name in self._bad:
                continue
            path = os.path.join(self._directory, name)
            try:
                self._files[name] = _MappedFile(path, self._kind, self._layout_of)
            except FileNotFoundError:
                return None  # absorbed into a newer archive meanwhile: list again
            except (OSError, ValueError, struct.error, TypeError) as exc:
                self._bad.add(name)
                self.warnings.once(path, str(exc))
        archives = sorted((_archive_seq(n), n) for n in self._files if self._files[n].archive)
        newest = self._files[archives[-1][1]] if archives else None
        skip = newest.absorbed if newest is not None else frozenset()
        return [f for n, f in self._files.items() if n not in skip and (not f.archive or f is newest)]


def _read_slots(file: _MappedFile, region: str, stride: int, with_floats: bool,
                generation: int) -> tuple[list[tuple[str, int]], list[int], list[float] | None]:
    """``(key, first word of its slot)`` of every occupied slot of a region whose version is even and
    unchanged around the read. Slots caught mid-change are read again; one still changing
    after every attempt (its writer killed halfway) is skipped with one warning.

    Keys are decoded once per (slot, version, generation) and remembered, so a scrape of a
    file whose keys did not change decodes nothing; versions are checked in bulk, from a
    second copy of the region taken after the keys were read.
    """
    layout: _ErrorsLayout = file.layout  # type: ignore[assignment]
    count = layout.capacity if region == "b" else layout.top_capacity
    at = layout.offsets[f"{region}_slots"]
    words = file.view[at:at + 8 * stride * count].cast("Q")
    floats = file.view[at:at + 8 * stride * count].cast("d") if with_floats else None
    key_bytes = layout.key_bytes
    keys_at = layout.offsets[f"{region}_keys"]
    cache = file.slot_keys.get(region)
    if cache is None:
        cache = file.slot_keys[region] = [None] * count  # slot -> (version, generation, key)
    view = file.view
    out: list[tuple[str, int]] = []
    flat: list[int] = []
    reals: list[float] | None = None
    pending: list[int] | None = None
    for attempt in range(_READ_ATTEMPTS):
        flat = words.tolist()
        reals = floats.tolist() if floats is not None else None
        # (a used slot's count is at least 1)
        indices = [i for i, c in enumerate(flat[1::stride]) if c] if pending is None else pending
        pending = []
        read: list[tuple[int, str]] = []
        for index in indices:
            base = index * stride
            version = flat[base]
            cached = cache[index]
            if cached is not None and cached[0] == version and cached[1] == generation:
                read.append((index, cached[2]))
                continue
            length = flat[base + stride - 1]
            if version & 1 or length > key_bytes:
                pending.append(index)
                continue
            start = keys_at + index * key_bytes
            key = bytes(view[start:start + length]).decode("utf-8", "surrogatepass")
            cache[index] = (version, generation, key)
            read.append((index, key))
        after = words.tolist()
        if after[::stride] == flat[::stride]:
            out.extend((key, index * stride) for index, key in read)
        else:
            for index, key in read:
                if after[index * stride] != flat[index * stride]:
                    pending.append(index)
                else:
                    out.append((key, index * stride))
        if not pending:
            return out, flat, reals
        if attempt:
            time.sleep(0)
    for index in pending:
        cache[index] = None
    _SKIPPED_SLOTS.once(file.path, f"{len(pending)} slot(s) left half-written (a process killed mid-update?)")
    return out, flat, reals


_SKIPPED_SLOTS = _Warnings()


class _ErrorsReader:
    def __init__(self, directory: str, namespace: str, layout: _ErrorsLayout) -> None:
        self._layout = layout
        self._directory = _Directory(directory, namespace, "errors", _KIND_ERRORS, _errors_layout)

    def merge(self, generation: int, include_top: bool) -> _Merged:
        total = 0
        dropped = dict.fromkeys(DROP_REASONS, 0)
        buffers: list[list[Row]] = []
        uniques: list[tuple[list[int] | None, bytes]] = []
        tops: list[tuple[dict[str, int], dict[str, int], int]] = []
        evicted = False
        for file in self._directory.files():
            header = file.header
            for i, reason in enumerate(DROP_REASONS):
                dropped[reason] += header[_H_DROPPED + i]
            try:
                part = self._read(file, generation, include_top)
            except (ValueError, UnicodeDecodeError, IndexError) as exc:
                self._directory.warnings.once(file.path, f"unreadable ({exc})")
                continue
            if part is None:
                continue
            part_total, rows, unique, top = part
            evicted = evicted or bool(file.header[_H_FLAGS] & _FLAG_EVICTED)
            total += part_total
            buffers.append(rows)
            uniques.append(unique)
            if top is not None:
                tops.append(top)
        layout = self._layout
        unique = merge_unique(uniques, layout.exact_limit, layout.precision)
        if include_top:
            top = merge_space_saving(tops, layout.top_capacity)
            exact = top[2] == 0  # no summary evicted a key, and none was left out merging them
        else:
            top, exact = ({}, {}, 0), not evicted
        return _Merged(total, dropped, merge_buffers(buffers, layout.capacity), unique, top, exact)

    @staticmethod
    def _read(file: _MappedFile, generation: int, include_top: bool):  # type: ignore[no-untyped-def]
        """``(total, buffer rows, (hashes, registers), top summary)`` of one file, or None when it
        belongs to an earlier generation (recorded before the last reset)."""
        header = file.header
        layout: _ErrorsLayout = file.layout  # type: ignore[assignment]
        for _ in range(_READ_ATTEMPTS):
            before = header[_H_GENERATION]
            if before != generation:
                if before == _RESETTING:
                    time.sleep(0)
                    continue
                return None
            slots, flat, reals = _read_slots(file, "b", _B_WORDS, True, before)
            rows = [(key, flat[b + 1], reals[b + 3], reals[b + 2]) for key, b in slots]  # type: ignore[index]
            estimated = header[_H_FLAGS] & _FLAG_ESTIMATED
            exact_count = min(header[_H_EXACT_COUNT], layout.exact_limit + 1)
            exact_at = layout.offsets["exact"]
            hashes = None if estimated else file.view[exact_at:exact_at + 8 * exact_count].cast("Q").tolist()
            hll_at = layout.offsets["hll"]
            registers = bytes(file.view[hll_at:hll_at + (1 << layout.precision)])
            at = layout.offsets["t_slots"]
            flat = file.view[at:at + 8 * _T_WORDS * layout.top_capacity].cast("Q").tolist()
            total, top = sum(flat[1::_T_WORDS]), None  # Space-Saving's counts add up to the total
            if file.archive:
                total = header[_H_TOTAL]  # merged summaries keep only the largest counts
            if include_top:
                slots, words, _ = _read_slots(file, "t", _T_WORDS, False, before)
                counts = {key: words[b + 1] for key, b in slots}
                errors = {key: words[b + 2] for key, b in slots if words[b + 2]}
                # Once a key was replaced some monitored key always carries an error, and the
                # smallest count bounds every key not monitored.
                top = (counts, errors, min(counts.values()) if errors else 0)
                if file.archive:
                    top = (counts, errors, header[_H_FLOOR])
            if header[_H_GENERATION] == before:
                return total, rows, (hashes, registers), top
        return None


# -- SQL query metrics ----------------------------------------------------------------------


def _sql_layout(params: tuple[int, ...]) -> _SqlLayout | None:
    slots, buckets, name_bytes, _crc = params[:4]
    if not (1 <= slots <= 1 << 20 and 1 <= buckets <= 1024 and name_bytes == _SQL_NAME_BYTES):
        return None
    return _SqlFileLayout(slots, buckets, params[3])


class _SqlFileLayout(_SqlLayout):
    """A SQL file's layout as read from its header (bucket bounds known by checksum only)."""

    def __init__(self, slots: int, bucket_count: int, bounds_crc: int) -> None:
        object.__setattr__(self, "slots", slots)
        object.__setattr__(self, "buckets", (0.0,) * bucket_count)
        object.__setattr__(self, "bounds_crc", bounds_crc)

    def params(self) -> tuple[int, ...]:
        return (self.slots, len(self.buckets), _SQL_NAME_BYTES, self.bounds_crc)  # type: ignore[attr-defined]


def _add_sql_series(merged: dict[str, list], file: _MappedFile, nb: int) -> None:
    """Add one SQL file's series to ``merged``: name -> [successes, errors, records, buckets, sum]."""
    layout = file.layout
    slots = layout.slots  # type: ignore[attr-defined]
    lengths = file.words("len", slots).tolist()
    successes = file.words("successes", slots).tolist()
    errors = file.words("errors", slots).tolist()
    records = file.words("records", slots).tolist()
    sums = file.words("sum", slots, "d").tolist()
    buckets = file.words("buckets", slots * nb).tolist()
    names_at = layout.offsets["names"]  # type: ignore[attr-defined]
    for index, length in enumerate(lengths):
        if not length or length > _SQL_NAME_BYTES:
            continue
        cached = file.keys.get(("q", index))
        if cached is None:
            start = names_at + index * _SQL_NAME_BYTES
            name = bytes(file.view[start:start + length]).decode("utf-8", "replace")
            file.keys[("q", index)] = cached = (length, name)
        name = cached[1]
        entry = merged.get(name)
        if entry is None:
            entry = merged[name] = [0, 0, 0, [0] * nb, 0.0]
        entry[0] += successes[index]
        entry[1] += errors[index]
        entry[2] += records[index]
        entry[4] += sums[index]
        row = entry[3]
        for b, count in enumerate(buckets[index * nb:(index + 1) * nb]):
            row[b] += count


def _cap_sql_series(merged: dict[str, list], max_query_types: int, nb: int) -> None:
    """Different processes may have met different query types first: keep the label set as
    bounded as one process keeps it (``max_query_types`` types, then ``other``)."""
    named = [q for q in merged if q != OTHER_QUERY_TYPE]
    if len(named) <= max_query_types:
        return
    named.sort(key=lambda q: (-(merged[q][0] + merged[q][1]), q))
    other = merged.setdefault(OTHER_QUERY_TYPE, [0, 0, 0, [0] * nb, 0.0])
    for name in named[max_query_types:]:
        entry = merged.pop(name)
        other[0] += entry[0]
        other[1] += entry[1]
        other[2] += entry[2]
        other[4] += entry[4]
        other[3] = [x + y for x, y in zip(other[3], entry[3], strict=True)]


class SharedSqlQueryMetrics(SqlQueryMetrics):
    """SQL query metrics written through to this process's file and read merged from all."""

    def __init__(self, directory: str, config: TrackerConfig) -> None:
        super().__init__(config.max_query_types, config.sql_duration_buckets)
        self._directory_path = directory
        self._namespace = config.namespace
        self._layout = _SqlLayout.for_config(config)
        self._directory = _Directory(directory, config.namespace, "sql", _KIND_SQL, _sql_layout)
        self._needs_file = False
        self._open_file()

    def _open_file(self) -> None:
        layout = self._layout
        self.path, self._map = _create_file(
            self._directory_path, self._namespace, "sql", _KIND_SQL, layout.params(), layout.size, 0,
        )
        self._bind(self._map)

    def _bind(self, mapping: mmap.mmap) -> None:
        off, slots, nb = self._layout.offsets, self._layout.slots, len(self._layout.buckets) + 1
        view = memoryview(mapping)
        self._len = view[off["len"]:off["len"] + 8 * slots].cast("Q")
        self._w_successes = view[off["successes"]:off["successes"] + 8 * slots].cast("Q")
        self._w_errors = view[off["errors"]:off["errors"] + 8 * slots].cast("Q")
        self._w_records = view[off["records"]:off["records"] + 8 * slots].cast("Q")
        self._w_sum = view[off["sum"]:off["sum"] + 8 * slots].cast("d")
        self._w_buckets = view[off["buckets"]:off["buckets"] + 8 * slots * nb].cast("Q")
        self._names = view[off["names"]:off["names"] + slots * _SQL_NAME_BYTES]
        self._index: dict[str, int] = {}
        self._series.clear()

    def observe(self, query_type: str, seconds: float, success: bool, records: int) -> None:
        from bisect import bisect_left

        bucket = bisect_left(self.buckets, seconds)
        with self._lock:
            if self._needs_file:
                self._open_own_file()
            index = self._index.get(query_type)
            if index is None:
                if len(self._index) >= self._max_query_types and query_type != OTHER_QUERY_TYPE:
                    query_type = OTHER_QUERY_TYPE
                index = self._index.get(query_type)
                if index is None:
                    index = self._new_series(query_type)
            if success:
                self._w_successes[index] += 1
            else:
                self._w_errors[index] += 1
            self._w_records[index] += records
            self._w_sum[index] += seconds
            self._w_buckets[index * (len(self.buckets) + 1) + bucket] += 1

    def _new_series(self, query_type: str) -> int:
        index = len(self._index)
        _, data = _fit(query_type, _SQL_NAME_BYTES)
        self._names[index * _SQL_NAME_BYTES:index * _SQL_NAME_BYTES + len(data)] = data
        self._len[index] = len(data)  # published last: a reader sees a whole name or none
        self._index[query_type] = index
        return index

    def snapshot(self) -> list[QueryTypeSnapshot]:
        """Every process's series added up (histograms bucket by bucket), by query type."""
        own_crc = self._layout.params()[3]
        nb = len(self.buckets) + 1
        merged: dict[str, list] = {}
        for file in self._directory.files():
            layout = file.layout
            if layout.bounds_crc != own_crc or len(layout.buckets) + 1 != nb:  # type: ignore[attr-defined]
                self._directory.warnings.once(file.path, "its SQL histogram buckets differ from ours")
                continue
            _add_sql_series(merged, file, nb)
        _cap_sql_series(merged, self._max_query_types, nb)
        return [
            QueryTypeSnapshot(name, e[0], e[1], e[2], tuple(e[3]), e[4]) for name, e in sorted(merged.items())
        ]

    def _after_fork(self) -> None:
        """A forked child gets its own file at its first query (private memory until then)."""
        self._lock = threading.Lock()
        self._directory = _Directory(self._directory_path, self._namespace, "sql", _KIND_SQL, _sql_layout)
        self._map = mmap.mmap(-1, self._layout.size)
        self._bind(self._map)
        self._needs_file = True

    def _open_own_file(self) -> None:
        self._needs_file = False
        try:
            self._open_file()
        except OSError as exc:
            _log.warning("velo-tracker: could not create a SQL state file in %r after fork (%s)",
                         self._directory_path, exc)


# -- process life cycle ----------------------------------------------------------------------


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Call from gunicorn's ``child_exit`` hook: fold an exited worker's files into an archive.

    The worker's counts stay in every total (a counter never goes down): its state is merged,
    with the previous archive, into a new archive file, and only then are its files removed,
    so the directory holds the live workers' files and one archive however often workers
    are replaced. A reader that lists the directory meanwhile sees either the old archive and
    the worker's files, or the new archive (which names the files it absorbed): never both,
    never neither. Does nothing while ``pid`` is still running. ``path`` defaults to
    ``PROMETHEUS_MULTIPROC_DIR``.
    """
    directory = os.fspath(path) if path is not None else os.environ.get(ENV_VAR, "")
    if not directory:
        raise ValueError(f"mark_process_dead needs the multi-process directory (pass path= or set {ENV_VAR})")
    if _running(pid):
        return
    try:
        listing = os.listdir(directory)
    except OSError as exc:
        _log.warning("velo-tracker: mark_process_dead(%d): cannot list %r (%s)", pid, directory, exc)
        return
    groups: dict[tuple[str, str], list[str]] = {}
    for name in listing:
        parts = name.split(".")
        if parts[0] != "velo-tracker" or len(parts) < 6 or parts[3] != str(pid):
            continue
        if name.endswith(".tmp"):  # a file the process never finished creating
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
        elif parts[2] in ("errors", "sql") and len(parts) == 6:
            groups.setdefault((parts[1], parts[2]), []).append(name)
    if not groups:
        return
    with open(os.path.join(directory, "velo-tracker.archive.lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one compaction at a time, across processes
        for (namespace, kind), names in sorted(groups.items()):
            try:
                _compact(directory, namespace, kind, names)
            except Exception:  # never break the server's hook: the files stay, and stay counted
                _log.warning("velo-tracker: could not archive the files of process %d", pid, exc_info=True)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not os.path.isdir("/proc")  # /proc said it is gone; elsewhere kill(0) answered


def _compact(directory: str, namespace: str, kind: str, names: list[str]) -> None:
    if kind == "errors":
        files = _Directory(directory, namespace, kind, _KIND_ERRORS, _errors_layout).files()
    else:
        files = _Directory(directory, namespace, kind, _KIND_SQL, _sql_layout).files()
    by_name = {os.path.basename(f.path): f for f in files}
    dead = [by_name[n] for n in names if n in by_name]
    archive = next((f for f in files if f.archive), None)
    if not dead or any(f.params != dead[0].params for f in dead) or (
        archive is not None and archive.params != dead[0].params
    ):
        return  # nothing readable to fold, or layouts that cannot be merged: keep the files
    parts = [*dead, *([archive] if archive is not None else [])]
    seq = _archive_seq(os.path.basename(archive.path)) + 1 if archive is not None else 1
    absorbed = sorted({n for n in names} | {n for n in (archive.absorbed if archive else ()) if
                                           os.path.exists(os.path.join(directory, n))})
    if kind == "errors":
        data, generation = _errors_archive(parts, _Control(directory, namespace).generation)
    else:
        data, generation = _sql_archive(parts), 0
    blob = "\n".join(absorbed).encode()
    header = memoryview(data)[:_HEADER_BYTES].cast("Q")
    header[_H_MAGIC] = _MAGIC
    header[_H_VERSION_KIND] = _VERSION | (_KIND_ERRORS if kind == "errors" else _KIND_SQL) << 32
    header[_H_LAYOUT_CRC] = dead[0].header[_H_LAYOUT_CRC]
    header[_H_LAYOUT:_H_LAYOUT + len(dead[0].params)] = array("Q", dead[0].params)
    header[_H_GENERATION] = generation
    header[_H_FLAGS] |= _FLAG_ARCHIVE
    header[_H_ABSORBED_BYTES] = len(blob)
    header.release()
    data += blob + bytes(_round8(len(blob)) - len(blob))
    final = os.path.join(directory, f"{_file_prefix(namespace, kind)}{_ARCHIVE}.{seq:012d}.mmap")
    temporary = f"{final}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.rename(temporary, final)  # from here on readers skip the absorbed files
    for file in parts:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(file.path)


def _errors_archive(parts: list[_MappedFile], generation: int) -> tuple[bytearray, int]:
    """One errors file holding the merged state of ``parts`` (the current generation's)."""
    layout: _ErrorsLayout = parts[0].layout  # type: ignore[assignment]
    data = bytearray(layout.size)
    header = memoryview(data)[:_HEADER_BYTES].cast("Q")
    total, rows, uniques, tops = 0, [], [], []
    for file in parts:
        for i in range(len(DROP_REASONS)):
            header[_H_DROPPED + i] += file.header[_H_DROPPED + i]
        part = _ErrorsReader._read(file, generation, True)
        if part is not None:
            total += part[0]
            rows.append(part[1])
            uniques.append(part[2])
            tops.append(part[3])
    off, key_bytes = layout.offsets, layout.key_bytes
    words = memoryview(data).cast("Q")
    reals = memoryview(data).cast("d")
    for i, (key, count, first, last) in enumerate(merge_buffers(rows, layout.capacity)):
        raw = key.encode("utf-8", "surrogatepass")
        base = off["b_slots"] // 8 + _B_WORDS * i
        words[base], words[base + 1], words[base + 4] = 2, count, len(raw)
        reals[base + 2], reals[base + 3] = last, first
        data[off["b_keys"] + i * key_bytes:off["b_keys"] + i * key_bytes + len(raw)] = raw
    counts, errors, floor = merge_space_saving(tops, layout.top_capacity)
    for i, (key, count) in enumerate(counts.items()):
        raw = key.encode("utf-8", "surrogatepass")
        base = off["t_slots"] // 8 + _T_WORDS * i
        words[base:base + 4] = array("Q", (2, count, errors.get(key, 0), len(raw)))
        data[off["t_keys"] + i * key_bytes:off["t_keys"] + i * key_bytes + len(raw)] = raw
    union: set[int] | None = set()
    for hashes, _ in uniques:
        if hashes is None or union is None:
            union = None
            continue
        union.update(hashes)
    if union is not None and len(union) <= layout.exact_limit:
        header[_H_EXACT_COUNT] = len(union)
        at = off["exact"] // 8
        words[at:at + len(union)] = array("Q", sorted(union))
    else:
        header[_H_FLAGS] |= _FLAG_ESTIMATED
    if uniques:
        registers = merge_registers(r for _, r in uniques)
        data[off["hll"]:off["hll"] + len(registers)] = registers
    header[_H_TOTAL] = total
    header[_H_FLOOR] = floor
    if floor:
        header[_H_FLAGS] |= _FLAG_EVICTED
    header.release()
    words.release()
    reals.release()
    return data, generation


def _sql_archive(parts: list[_MappedFile]) -> bytearray:
    """One SQL file holding the summed series of ``parts``."""
    layout = parts[0].layout
    slots, nb = layout.slots, len(layout.buckets) + 1  # type: ignore[attr-defined]
    merged: dict[str, list] = {}
    for file in parts:
        _add_sql_series(merged, file, nb)
    _cap_sql_series(merged, slots - 1, nb)
    data = bytearray(layout.size)  # type: ignore[attr-defined]
    off = layout.offsets  # type: ignore[attr-defined]
    words = memoryview(data).cast("Q")
    reals = memoryview(data).cast("d")
    for i, (name, (successes, errors, records, buckets, total)) in enumerate(sorted(merged.items())):
        raw = name.encode("utf-8", "surrogatepass")[:_SQL_NAME_BYTES]
        data[off["names"] + i * _SQL_NAME_BYTES:off["names"] + i * _SQL_NAME_BYTES + len(raw)] = raw
        words[off["len"] // 8 + i] = len(raw)
        words[off["successes"] // 8 + i] = successes
        words[off["errors"] // 8 + i] = errors
        words[off["records"] // 8 + i] = records
        reals[off["sum"] // 8 + i] = total
        at = off["buckets"] // 8 + i * nb
        words[at:at + nb] = array("Q", buckets)
    words.release()
    reals.release()
    return data


def process_totals(path: str | os.PathLike[str] | None = None, namespace: str = "velo") -> dict[int, int]:
    """Errors recorded per process id in the current generation, read from the directory
    (default ``PROMETHEUS_MULTIPROC_DIR``): which workers recorded, for checks and debugging."""
    directory = os.fspath(path) if path is not None else os.environ.get(ENV_VAR, "")
    if not directory:
        raise ValueError(f"process_totals needs the multi-process directory (pass path= or set {ENV_VAR})")
    control = _Control(directory, namespace)
    totals: dict[int, int] = {}
    files = _Directory(directory, namespace, "errors", _KIND_ERRORS, _errors_layout).files()
    for file in files:
        layout: _ErrorsLayout = file.layout  # type: ignore[assignment]
        if file.header[_H_GENERATION] != control.generation:
            continue
        at = layout.offsets["t_slots"]
        counts = file.view[at:at + 8 * _T_WORDS * layout.top_capacity].cast("Q").tolist()[1::_T_WORDS]
        pid = file.header[_H_PID]
        totals[pid] = totals.get(pid, 0) + sum(counts)
    return totals
