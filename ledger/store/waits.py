"""Bounded database waits: how long a statement may wait for a lock, or run at all.

One idle-in-transaction session holding the events table's lock used to keep the append
writer waiting for as long as it held it (> 45 s measured), and with it every append of the
process. Every wait is bounded now (`TEMOIN_LOCK_TIMEOUT`, `TEMOIN_STATEMENT_TIMEOUT`); a
wait that runs out leaves the store as `ledger.errors.DatabaseBusyError` (`is_wait_timeout`
tells it apart, `ledger/store/driver_errors.py`), which the API answers with 503 busy and
Retry-After, and nothing of the transaction is kept.

- PostgreSQL: `lock_timeout` and `statement_timeout` are the session defaults of every pooled
  connection (set at connection start, no statement per transaction); an append whose
  callers already waited in the queue lowers `lock_timeout` for its own transaction only
  (`SET LOCAL`), so that no caller waits much longer than the lock timeout in total.
- SQLite: the busy timeout of every connection, and the wait for the process's one writer
  connection, are the lock timeout (`BEGIN IMMEDIATE` waits for the database lock at most
  that long).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from eventsourcing.persistence import ConnectionUnavailableError

# The keys of eventsourcing's environment that carry the waits to the recorders (integer
# milliseconds, decided by `ledger.config.Settings`; 0 means no bound).
LOCK_TIMEOUT_KEY = "TEMOIN_LOCK_TIMEOUT_MS"
STATEMENT_TIMEOUT_KEY = "TEMOIN_STATEMENT_TIMEOUT_MS"

DEFAULT_LOCK_TIMEOUT_MS = 5000
DEFAULT_STATEMENT_TIMEOUT_MS = 10000

# A commit whose callers used up their budget in the queue still tries the lock this long:
# the lock is often free by then, and a 1 ms wait would fail on any concurrent writer.
MIN_LOCK_WAIT = 0.05


@dataclass(frozen=True, slots=True)
class Waits:
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS

    @classmethod
    def from_env(cls, get: Mapping[str, str] | None) -> Waits:
        """From eventsourcing's environment (`env.get`), defaults where a key is missing."""
        env = get or {}
        return cls(
            int(env.get(LOCK_TIMEOUT_KEY) or DEFAULT_LOCK_TIMEOUT_MS),
            int(env.get(STATEMENT_TIMEOUT_KEY) or DEFAULT_STATEMENT_TIMEOUT_MS),
        )

    def postgres_options(self) -> str:
        """libpq `options`: the session defaults, sent with the connection's start-up packet
        (no round trip; `RESET` returns to them)."""
        return (
            f"-c lock_timeout={self.lock_timeout_ms} "
            f"-c statement_timeout={self.statement_timeout_ms}"
        )

    def lowered_lock_ms(self, wait: float | None) -> int | None:
        """The lock timeout one transaction should use when its callers can only wait `wait`
        more seconds; None when the default applies (the common case: no statement)."""
        if wait is None or self.lock_timeout_ms == 0:
            return None
        ms = int(max(wait, MIN_LOCK_WAIT) * 1000)
        # Lowered only when it saves more than the minimum wait: a few milliseconds spent in
        # the queue are not worth a statement.
        return ms if ms < self.lock_timeout_ms - MIN_LOCK_WAIT * 1000 else None


_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def is_wait_timeout(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) is a bounded wait that ran out: a lock not granted
    in time, a statement cancelled by its timeout, this process's writer connection not free
    in time. Such a failure says the database is busy, not down: retrying soon is the right
    answer. (psycopg_pool's PoolTimeout is not one: it is also what an unreachable server
    gives, and stays "unavailable".)"""
    seen: BaseException | None = exc
    for _ in range(5):  # the store and eventsourcing each wrap the driver's error once
        if seen is None:
            return False
        if isinstance(seen, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled
                      | ConnectionUnavailableError):
            return True
        if isinstance(seen, sqlite3.OperationalError) and any(
            text in str(seen) for text in _SQLITE_BUSY
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
