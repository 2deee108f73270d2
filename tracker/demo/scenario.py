"""The simulated workload of a trading stream processor: SQL queries, their failures, error storms.

Pure generation, no I/O: :class:`Scenario` turns a seeded random source into
:class:`Operation` values, and the demo app feeds them to the library. The failure mix
is chosen to show what the library does with real-world error text:

- timeouts whose durations, order ids and addresses vary -> one grouped error type;
- the database going offline, with credentials inside the connection URL -> scrubbed;
- memory exhaustion for varying sizes and quoted instrument names -> one type;
- authentication failures carrying a password or a bearer token -> scrubbed.

In normal operation these make exactly :data:`NORMAL_ERROR_TYPES` error types, below the
``VeloErrorTypesHigh`` threshold and the buffer's capacity. An error storm records
stream-processing errors of many distinct types, so the buffer fills and the alerts fire.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

#: Query types of the simulated processor (a bounded set: they become label values).
QUERY_TYPES = ("order_insert", "price_tick_upsert", "position_select", "trade_settlement", "risk_snapshot")

#: Distinct error types the normal failure mix produces once messages are fingerprinted.
NORMAL_ERROR_TYPES = 5

# Credentials the simulated failures leak into their raw text. They are made up, and the
# library must scrub every one of them before anything is stored or exposed.
DB_PASSWORD = "Tr4d3r-S3cret-Passw0rd"
USER_PASSWORD = "hunter2-velo-demo"
JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
JWT_PAYLOAD = "eyJzdWIiOiJ0cmFkZXItNDIiLCJkZXNrIjoiZngtc3BvdCIsImRlbW8iOnRydWV9"
JWT_SIGNATURE = "dmVsby1kZW1vLXNpZ25hdHVyZS1ub3QtcmVhbC0xMjM0NTY"
DEMO_JWT = f"{JWT_HEADER}.{JWT_PAYLOAD}.{JWT_SIGNATURE}"

#: Fragments of the leaked credentials that must never appear in a metric, label or endpoint.
SECRET_FRAGMENTS: tuple[str, ...] = (DB_PASSWORD, USER_PASSWORD, JWT_PAYLOAD, JWT_SIGNATURE)

# Documentation address ranges (RFC 5737): the text looks real and points nowhere.
_DB_HOSTS = ("192.0.2.11", "192.0.2.12", "198.51.100.7", "198.51.100.23", "203.0.113.40")
_INSTRUMENTS = ("BTC-USD", "ETH-USD", "EUR/USD", "GBP/JPY", "AAPL", "MSFT", "ES-MAR25")
_TRADERS = ("alice", "bob", "carol", "dmitri", "erin")

# Error storms: stream x failure gives distinct types (words only, so fingerprinting keeps
# them apart), each with an offset that varies (and is grouped away).
STORM_STREAMS = ("orders", "prices", "trades", "quotes", "positions", "fills", "risk", "settlements")
STORM_FAILURES = (
    "deserialization failed",
    "checksum mismatch",
    "partition rebalanced mid-batch",
    "schema rejected by registry",
    "consumer fell behind retention",
    "sequence gap detected",
)
STORM_TYPES = len(STORM_STREAMS) * len(STORM_FAILURES)


@dataclass(frozen=True)
class Operation:
    """One simulated SQL query: the arguments of ``record_sql_query_with_error``."""

    query_type: str
    duration: float
    """Seconds."""
    success: bool
    record_count: int
    error_message: str | None = None


class Scenario:
    """Seeded generator of :class:`Operation` values; one instance per thread (not locked)."""

    def __init__(self, seed: int | None = None, error_rate: float = 0.1) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1 (got {error_rate!r})")
        self.random = random.Random(seed)
        self.error_rate = error_rate

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def next_operation(self) -> Operation:
        """The next query: successful, or failed with one of the failure kinds."""
        rnd = self.random
        query_type = rnd.choice(QUERY_TYPES)
        if rnd.random() >= self.error_rate:
            return Operation(query_type, rnd.lognormvariate(-4.0, 0.6), True, rnd.randint(1, 500))
        kind = rnd.choices(
            (self.timeout, self.database_offline, self.memory_exhausted, self.password_rejected,
             self.token_rejected),
            weights=(40, 15, 15, 15, 15),
        )[0]
        duration, message = kind()
        return Operation(query_type, duration, False, 0, message)

    # -- the failure kinds: (seconds the query took, raw error text) ------------------

    def timeout(self) -> tuple[float, str]:
        ms = self.random.randint(1_500, 5_000)
        host = self.random.choice(_DB_HOSTS)
        return ms / 1000, f"Query timeout after {ms}ms for order {self._uuid()} on {host}:5432"

    def database_offline(self) -> tuple[float, str]:
        host = self.random.choice(_DB_HOSTS)
        attempt = self.random.randint(1, 5)
        return 0.002, (
            f"Database offline: could not connect to postgres://trader:{DB_PASSWORD}@{host}:5432/orders"
            f" (attempt {attempt} of 5)"
        )

    def memory_exhausted(self) -> tuple[float, str]:
        megabytes = self.random.randint(64, 4096)
        instrument = self.random.choice(_INSTRUMENTS)
        # instrument='...' is a value (grouped as <str>); a bare quoted name would split types
        return 0.05, (
            f"Out of memory: cannot allocate {megabytes} MB for order book snapshot instrument='{instrument}'"
        )

    def password_rejected(self) -> tuple[float, str]:
        trader = self.random.choice(_TRADERS)
        host = self.random.choice(_DB_HOSTS)
        return 0.01, (
            f"Authentication failed for {trader}@desk.velostream.example from {host}: "
            f"password={USER_PASSWORD} rejected"
        )

    def token_rejected(self) -> tuple[float, str]:
        return 0.01, (
            f"Authentication failed: token expired for session {self.random.getrandbits(64):016x}, "
            f"Authorization: Bearer {DEMO_JWT}"
        )

    # -- storms -----------------------------------------------------------------------

    def storm_messages(self, count: int, types: int = STORM_TYPES) -> list[str]:
        """``count`` stream-processing errors spread over ``types`` distinct error types.

        Every type appears at least once when ``count >= types``, so a storm of more types
        than the buffer holds fills it.
        """
        if count < 0:
            raise ValueError(f"count must be >= 0 (got {count})")
        types = max(1, min(types, STORM_TYPES))
        combos = [(s, f) for s in STORM_STREAMS for f in STORM_FAILURES]
        self.random.shuffle(combos)
        chosen = combos[:types]
        picks = chosen[:count] + [self.random.choice(chosen) for _ in range(count - len(chosen[:count]))]
        self.random.shuffle(picks)
        return [
            f"Stream {stream} {failure} at offset {self.random.randint(10_000, 99_999_999)}"
            for stream, failure in picks
        ]
