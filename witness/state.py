"""The witness's state: per log origin, its verifier key and the latest checkpoint cosigned.

SQLite in the witness's data folder. `advance()` is the spec's compare-and-set: it checks the
submitted old size against the stored size and updates size and root in one `BEGIN IMMEDIATE`
transaction, committed before the caller answers, so two racing requests can never roll the
witness back and a restart never forgets what it cosigned.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.checkpoint import Checkpoint
from ledger.merkle import ProofError, verify_consistency
from ledger.signing import Verifier

DB_NAME = "witness.db"
KEY_NAME = "witness.key"

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


class Refusal(Exception):
    """A checkpoint the witness must not cosign; `status` is the HTTP status of the spec."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size  # for 409 old-size conflicts: the witness's current size


class UnknownLogError(KeyError):
    pass


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WitnessState:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_NAME
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a cosignature is only sent after the new size is on disk (spec: "MUST persist").
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_DDL)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def add_log(self, origin: str, vkey: str) -> bool:
        """Trust `vkey` for `origin`; False if the origin was already known with that key."""
        with self._lock:
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
        with self._lock:
            row = self._conn.execute(
                "SELECT origin, vkey, size, root FROM witness_logs WHERE origin = ?", (origin,)
            ).fetchone()
        if row is None:
            return None
        return LogState(row[0], row[1], row[2], None if row[3] is None else bytes(row[3]))

    def logs(self) -> list[LogState]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT origin, vkey, size, root FROM witness_logs ORDER BY origin"
            ).fetchall()
        return [LogState(r[0], r[1], r[2], None if r[3] is None else bytes(r[3])) for r in rows]

    def verifier(self, origin: str) -> Verifier:
        state = self.log(origin)
        if state is None:
            raise UnknownLogError(origin)
        return Verifier.parse(state.vkey)

    def advance(self, checkpoint: Checkpoint, old_size: int, proof: Sequence[bytes]) -> None:
        """Check `checkpoint` against the stored state and store it, atomically; raise Refusal
        with the spec's status otherwise. The caller has verified the log's signature."""
        if old_size > checkpoint.size:
            raise Refusal(400, f"old size {old_size} is larger than the checkpoint size "
                               f"{checkpoint.size}; send the size the witness last cosigned")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT size, root FROM witness_logs WHERE origin = ?",
                                   (checkpoint.origin,)).fetchone()
                if row is None:
                    raise UnknownLogError(checkpoint.origin)
                stored_size = 0 if row[0] is None else int(row[0])
                stored_root = None if row[1] is None else bytes(row[1])
                self._check(checkpoint, old_size, proof, stored_size, stored_root)
                conn.execute("UPDATE witness_logs SET size = ?, root = ?, updated_at = ? "
                             "WHERE origin = ?",
                             (checkpoint.size, checkpoint.root, _now(), checkpoint.origin))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _check(checkpoint: Checkpoint, old_size: int, proof: Sequence[bytes], stored_size: int,
               stored_root: bytes | None) -> None:
        if old_size != stored_size:
            raise Refusal(409, f"old size {old_size} is not the size this witness last cosigned "
                               f"for {checkpoint.origin} ({stored_size}); resend from there",
                          size=stored_size)
        if old_size == checkpoint.size:
            if stored_root is not None and stored_root != checkpoint.root:
                raise Refusal(409, f"the witness cosigned size {stored_size} of "
                                   f"{checkpoint.origin} with another root hash: the log forked")
            if proof:
                raise Refusal(422, "consistency proof: expected none for equal sizes, found "
                                   f"{len(proof)} lines")
            return
        if old_size == 0:
            # Every tree extends the empty one; the parser refused proof lines for old 0.
            return
        assert stored_root is not None
        try:
            verify_consistency(old_size, checkpoint.size, stored_root, checkpoint.root, proof)
        except ProofError as exc:
            raise Refusal(422, f"consistency proof from {old_size} to {checkpoint.size} does "
                               f"not verify against the cosigned root: {exc}") from None
