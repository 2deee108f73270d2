"""Settings of a :class:`~tracker.provider.MetricsProvider`, validated once."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .names import DEFAULT_NAMESPACE, validate_namespace
from .ruletable import Rule

DEFAULT_BUFFER_CAPACITY = 10
DEFAULT_MAX_MESSAGE_LENGTH = 256
DEFAULT_EXACT_UNIQUE_LIMIT = 10_000
DEFAULT_TOP_ERRORS_CAPACITY = 1_000
DEFAULT_MAX_QUERY_TYPES = 100
DEFAULT_MESSAGE_CACHE_SIZE = 2_048
DEFAULT_SQL_DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)

#: A user hook that rewrites a scrubbed message, or drops it by returning ``None``.
MessageHook = Callable[[str], "str | None"]
#: A user function that maps a message to the text it is grouped (and displayed) by.
FingerprintFunction = Callable[[str], str]


def _validate_rules(disabled: tuple[str, ...], grouping: tuple[Rule, ...], scrub: tuple[Rule, ...]) -> None:
    """Every name to disable is a rule; every extra rule is a Rule with a free name."""
    from .fingerprint import GROUPING_RULES
    from .scrub import SCRUB_RULES

    for kind, extra in (("extra_grouping_rules", grouping), ("extra_scrub_rules", scrub)):
        for rule in extra:
            if not isinstance(rule, Rule):
                raise ValueError(f"{kind} must hold tracker.Rule objects (got {rule!r})")
    known = {rule.name for rule in (*GROUPING_RULES, *SCRUB_RULES, *grouping, *scrub)}
    for name in disabled:
        if not isinstance(name, str) or name not in known:
            known_list = ", ".join(sorted(known))
            raise ValueError(f"disabled_rules: unknown rule {name!r}; known rules: {known_list}")
    names = [rule.name for rule in (*GROUPING_RULES, *SCRUB_RULES, *grouping, *scrub)]
    taken = sorted({name for name in names if names.count(name) > 1})
    if taken:
        raise ValueError(f"extra rule name(s) already taken: {', '.join(taken)}")


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int >= {minimum} (got {value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {value!r})")


@dataclass(frozen=True)
class TrackerConfig:
    """Everything a provider can be told; invalid values raise ``ValueError`` naming the setting."""

    namespace: str = DEFAULT_NAMESPACE
    """Prefix of every metric name (``velo`` gives ``velo_error_messages_total``)."""
    enabled: bool = True
    """When false, error messages are not tracked and ``get_error_stats()`` returns ``None``."""
    buffer_capacity: int = DEFAULT_BUFFER_CAPACITY
    """How many distinct recent errors the rolling buffer holds."""
    max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH
    """Longest displayed message; longer ones are cut and end with an ellipsis."""
    fingerprinting: bool = True
    """Group look-alike messages by replacing their variable parts with placeholders."""
    fingerprint_function: FingerprintFunction | None = None
    """Replaces the built-in fingerprint when set."""
    scrub_secrets: bool = True
    """Remove passwords, tokens, keys and card numbers before anything is stored."""
    before_record: MessageHook | None = None
    """Called with each scrubbed message; return a new text, or ``None`` to drop it."""
    exact_unique_limit: int = DEFAULT_EXACT_UNIQUE_LIMIT
    """Distinct error types counted exactly before switching to a HyperLogLog estimate."""
    top_errors_capacity: int = DEFAULT_TOP_ERRORS_CAPACITY
    """Counters kept for the most frequent error types (Space-Saving)."""
    max_query_types: int = DEFAULT_MAX_QUERY_TYPES
    """Distinct SQL ``query_type`` labels; later ones count under ``other``."""
    message_cache_size: int = DEFAULT_MESSAGE_CACHE_SIZE
    """Raw messages whose scrubbed, fingerprinted form is remembered."""
    sql_duration_buckets: tuple[float, ...] = field(default=DEFAULT_SQL_DURATION_BUCKETS)
    """Upper bounds (seconds) of the SQL query duration histogram."""
    multiprocess_dir: str | os.PathLike[str] | None = None
    """Directory of the per-process state files (multi-process mode). ``None`` follows the
    ``PROMETHEUS_MULTIPROC_DIR`` environment variable; ``""`` keeps state in this process only."""
    disabled_rules: tuple[str, ...] = ()
    """Names of built-in grouping or scrubbing rules to turn off (see README, Grouping and scrubbing)."""
    extra_grouping_rules: tuple[Rule, ...] = ()
    """Your own grouping rules (``tracker.Rule``), tried after the built-in ones."""
    extra_scrub_rules: tuple[Rule, ...] = ()
    """Your own scrubbing rules (``tracker.Rule``), tried after the built-in ones."""

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled must be a bool (got {self.enabled!r})")
        if not isinstance(self.fingerprinting, bool):
            raise ValueError(f"fingerprinting must be a bool (got {self.fingerprinting!r})")
        if not isinstance(self.scrub_secrets, bool):
            raise ValueError(f"scrub_secrets must be a bool (got {self.scrub_secrets!r})")
        _require_int("buffer_capacity", self.buffer_capacity, 1)
        _require_int("max_message_length", self.max_message_length, 16)
        _require_int("exact_unique_limit", self.exact_unique_limit, 0)
        _require_int("top_errors_capacity", self.top_errors_capacity, 1)
        _require_int("max_query_types", self.max_query_types, 1)
        _require_int("message_cache_size", self.message_cache_size, 0)
        for name in ("fingerprint_function", "before_record"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(f"{name} must be callable or None (got {value!r})")
        if self.multiprocess_dir is not None and not isinstance(self.multiprocess_dir, (str, os.PathLike)):
            raise ValueError(f"multiprocess_dir must be a path, '' or None (got {self.multiprocess_dir!r})")
        buckets = self.sql_duration_buckets
        try:
            buckets = tuple(float(b) for b in buckets)
        except (TypeError, ValueError):
            raise ValueError(
                f"sql_duration_buckets must be a sequence of numbers (got {self.sql_duration_buckets!r})"
            ) from None
        increasing = list(buckets) == sorted(set(buckets))
        if not buckets or not increasing or any(math.isnan(b) or b <= 0 for b in buckets):
            raise ValueError(
                "sql_duration_buckets must be positive, strictly increasing numbers "
                f"(got {self.sql_duration_buckets!r})"
            )
        for name in ("disabled_rules", "extra_grouping_rules", "extra_scrub_rules"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (tuple, list, set, frozenset)):
                raise ValueError(f"{name} must be a sequence (got {value!r})")
            object.__setattr__(self, name, tuple(value))
        _validate_rules(self.disabled_rules, self.extra_grouping_rules, self.extra_scrub_rules)
        if math.isinf(buckets[-1]):
            buckets = buckets[:-1]
        object.__setattr__(self, "sql_duration_buckets", buckets)
