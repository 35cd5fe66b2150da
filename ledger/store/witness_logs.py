"""The witness's table: per log origin, its verifier key and the latest checkpoint cosigned.

SQLite in the witness's data folder (`witness/state.py` holds the rules of what may be
cosigned; this module only keeps what was). `advance()` is the spec's compare-and-set: the
caller's check of the stored size and root and the update run in one `BEGIN IMMEDIATE`
transaction, committed before the caller answers, so two racing requests can never roll the
witness back and a restart never forgets what it cosigned. What it raises is a
`ledger.errors` kind (`ledger.store.driver_errors`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.store.driver_errors import translated

_DDL = (
    "CREATE TABLE IF NOT EXISTS witness_logs (origin TEXT PRIMARY KEY, vkey TEXT NOT NULL, "
    "size INTEGER, root BLOB, updated_at TEXT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class LogState:
    origin: str
    vkey: str
    size: int | None  # None: nothing cosigned yet (the spec's "zero")
    root: bytes | None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WitnessLogs:
    def __init__(self, path: Path) -> None:
        self.path = path
        with translated():
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a cosignature is only sent after the new size is on disk (spec: "MUST
            # persist").
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_DDL)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def add_log(self, origin: str, vkey: str) -> bool:
        """Trust `vkey` for `origin`; False if the origin was already known with that key."""
        with self._lock, translated():
            row = self._conn.execute(
                "SELECT vkey FROM witness_logs WHERE origin = ?", (origin,)
            ).fetchone()
            if row is not None:
                if row[0] == vkey:
                    return False
                # A new key for a known log keeps the cosigned size: the log's history does
                # not restart because it rotated its key.
                self._conn.execute("UPDATE witness_logs SET vkey = ?, updated_at = ? "
                                   "WHERE origin = ?", (vkey, _now(), origin))
                return True
            self._conn.execute(
                "INSERT INTO witness_logs (origin, vkey, size, root, updated_at) "
                "VALUES (?, ?, NULL, NULL, ?)", (origin, vkey, _now()),
            )
            return True

    def log(self, origin: str) -> LogState | None:
        with self._lock, translated():
            row = self._conn.execute(
                "SELECT origin, vkey, size, root FROM witness_logs WHERE origin = ?", (origin,)
            ).fetchone()
        if row is None:
            return None
        return LogState(row[0], row[1], row[2], None if row[3] is None else bytes(row[3]))

    def logs(self) -> list[LogState]:
        with self._lock, translated():
            rows = self._conn.execute(
                "SELECT origin, vkey, size, root FROM witness_logs ORDER BY origin"
            ).fetchall()
        return [LogState(r[0], r[1], r[2], None if r[3] is None else bytes(r[3])) for r in rows]

    def advance(self, origin: str, size: int, root: bytes,
                check: Callable[[int, bytes | None], None]) -> bool:
        """Set `origin`'s cosigned checkpoint to (`size`, `root`) if `check(stored size,
        stored root)` returns (it raises to refuse: nothing changes); False if the origin is
        unknown."""
        with self._lock, translated():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT size, root FROM witness_logs WHERE origin = ?",
                                   (origin,)).fetchone()
                if row is None:
                    conn.execute("ROLLBACK")
                    return False
                check(0 if row[0] is None else int(row[0]),
                      None if row[1] is None else bytes(row[1]))
                conn.execute("UPDATE witness_logs SET size = ?, root = ?, updated_at = ? "
                             "WHERE origin = ?", (size, root, _now(), origin))
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise
