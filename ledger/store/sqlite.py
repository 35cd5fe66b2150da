"""SQLite persistence (the embedded default): eventsourcing's recorder plus the Merkle tables.

Select it the eventsourcing way: `PERSISTENCE_MODULE=ledger.store.sqlite`, `SQLITE_DBNAME=...`.
Appends run in `BEGIN IMMEDIATE` transactions, so writers from several processes queue on the
database lock instead of failing when a deferred read transaction tries to upgrade.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing import persistence as es
from eventsourcing.persistence import ConnectionUnavailableError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteFactory

from ledger.merkle import NodeID
from ledger.store.base import MerkleStore
from ledger.store.batch import AppendBatch, erasure_statements
from ledger.store.driver_errors import translating
from ledger.store.log_ids import log_id_from_env
from ledger.store.migrations import v2, v4
from ledger.store.migrations.v2 import LOG_ONE
from ledger.store.migrations.version import LATEST, SCHEMA_VERSION_DDL, read_state, require_latest
from ledger.store.waits import MIN_LOCK_WAIT, Waits


def _translate(exc: sqlite3.Error) -> es.PersistenceError:
    if isinstance(exc, sqlite3.IntegrityError):
        return es.IntegrityError(str(exc))
    if isinstance(exc, sqlite3.OperationalError):
        return es.OperationalError(str(exc))
    return es.DatabaseError(str(exc))


def _flush_wal(raw: sqlite3.Connection) -> None:
    """After an erasure: copy the WAL into the database file and truncate it, so the page
    images that still hold the deleted rows leave the files (best effort: a reader still on an
    older snapshot keeps the WAL until it ends; the next erasure or checkpoint finishes it)."""
    with contextlib.suppress(sqlite3.Error):
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


@translating  # driver errors leave the store as tree errors (ledger/store/driver_errors.py)
class MerkleSQLiteRecorder(MerkleStore, SQLiteApplicationRecorder):
    def __init__(
        self, datastore: SQLiteDatastore, prefix: str = "cases", waits: Waits | None = None,
        log_id: int = LOG_ONE,
    ) -> None:
        self.prefix = prefix
        self.log_id = log_id
        self._head = None
        self.waits = waits or Waits()
        # This process's writers take turns here, not on the pool's writer lock: the pool
        # holds its "fairness" semaphore while a writer waits for that lock, so every reader
        # of the pool would wait behind a writer waiting for a locked database.
        self._write_turn = threading.Lock()
        # The writer's own sqlite3 connection (file databases), opened on the first write.
        self._own_writer: sqlite3.Connection | None = None
        super().__init__(datastore, events_table_name=f"{prefix}_events")
        # The events in our own layout (schema version 4): keyed by entry, with the case's
        # number found from its id (a case opened earlier in this append is already there).
        self._cases_sql = f"INSERT INTO {self.cases_table} VALUES (?,?)"
        self._insert_sql = (
            f"INSERT INTO {self.events_table_name} VALUES "
            f"(?, {self._case_no_sql()}, ?, ?, ?, ?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        # Not eventsourcing's events table: ours (`migrations.v4`) replaces it.
        return [
            *v4.log_tables_ddl(self.prefix, "sqlite"),
            *self.side_tables_ddl("sqlite"),
        ]

    def select_events(
        self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
        desc: bool = False, limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The recorder's read of one aggregate's events, from our layout: the case's number,
        then a range of the events' (case_no, originator_version) key."""
        sql = (f"SELECT originator_id, originator_version, topic, state "
               f"FROM {self.events_table_name} WHERE case_no = {self._case_no_sql()}")
        params: list[Any] = [self._id_text(originator_id)]
        if gt is not None:
            sql += " AND originator_version > ?"
            params.append(gt)
        if lte is not None:
            sql += " AND originator_version <= ?"
            params.append(lte)
        sql += " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [StoredEvent(self.convert_originator_id(r[0]), r[1], r[2], bytes(r[3]))
                for r in self._query(sql, params)]

    def create_table(self) -> None:
        """Create the tables at the newest schema version on an empty database; refuse (before
        writing anything) a database at another version. One IMMEDIATE transaction: two
        processes starting on a new file cannot both see it empty."""
        with self._writer() as raw:
            raw.execute("BEGIN IMMEDIATE")
            try:
                state = read_state(_RawSql(raw))
                require_latest(state)
                for statement in self.create_table_statements:
                    raw.execute(statement)
                raw.execute(SCHEMA_VERSION_DDL)
                raw.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, "
                    "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) ON CONFLICT (version) DO NOTHING",
                    (LATEST,),
                )
                raw.commit()
            except BaseException:
                raw.rollback()
                raise

    def _check_schema(self) -> None:
        """For a recorder told not to create tables: still refuse another schema version."""
        with self._writer() as raw:
            require_latest(read_state(_RawSql(raw)))

    # -- connections ----------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [tuple(r) for r in c.fetchall()]

    @contextmanager
    def _writer(self, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        """This process's writer connection, within one budget for both waits: for the
        connection (another thread may be writing), then for the database lock in BEGIN
        IMMEDIATE (another process may be). `wait` lowers the budget (a caller that already
        waited in the sequencer's queue); the common case sets nothing."""
        lock_ms = self.waits.lock_timeout_ms
        budget = lock_ms / 1000 if wait is None else max(min(wait, lock_ms / 1000), MIN_LOCK_WAIT)
        started = time.monotonic()
        pool = self.datastore.pool
        conn = None
        if pool.is_sqlite_memory_mode:  # one shared database: the pool must order readers
            conn = pool.get_connection(timeout=budget if lock_ms else None, is_writer=True)
            # The pool's connection is the only one that sees this database: reach its
            # sqlite3 connection through a cursor (public attributes of both).
            cursor = conn.cursor().sqlite_cursor
            raw = cursor.connection
            cursor.close()
        else:
            if not self._write_turn.acquire(timeout=budget if lock_ms else -1):
                raise ConnectionUnavailableError(
                    f"another writer of this process held the database for {budget:g} s"
                )
            try:
                raw = self._writer_connection()
            except BaseException:
                self._write_turn.release()
                raise
        try:
            busy_ms = self.waits.lowered_lock_ms(budget - (time.monotonic() - started))
            if busy_ms is None:
                yield raw
                return
            raw.execute(f"PRAGMA busy_timeout = {busy_ms}")
            try:
                yield raw
            finally:
                raw.execute(f"PRAGMA busy_timeout = {lock_ms}")
        finally:
            if conn is not None:
                pool.put_connection(conn)
            else:
                self._write_turn.release()

    def _writer_connection(self) -> sqlite3.Connection:
        """This process's one writer connection to a database file, opened as eventsourcing's
        pool opens its own (autocommit, so that BEGIN IMMEDIATE is ours to send; shared by
        threads, which take turns on `_write_turn`, held by the caller)."""
        if self._own_writer is None:
            pool = self.datastore.pool
            try:
                raw = sqlite3.connect(
                    pool.db_name, uri=True, check_same_thread=False, isolation_level=None,
                    timeout=pool.lock_timeout or 5,
                )
            except sqlite3.Error as exc:
                raise es.InterfaceError(str(exc)) from exc
            try:
                # The pool makes the file WAL on its first connection; a writer that comes
                # first must not leave a rollback journal (readers would then block it).
                raw.execute("PRAGMA journal_mode=WAL").fetchall()
            except sqlite3.Error as exc:
                raw.close()
                raise _translate(exc) from exc
            self._own_writer = raw
        return self._own_writer

    def close_writer(self) -> None:
        """Close the writer's own connection (the application's factory closes the pool)."""
        with self._write_turn:
            if self._own_writer is not None:
                self._own_writer.close()
                self._own_writer = None

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._writer() as raw:
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute(sql, params)
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise _translate(exc) from exc

    def _transaction(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]],
                     guard: tuple[str, Sequence[Any]] | None = None) -> bool:
        with self._writer() as raw:
            try:
                raw.execute("BEGIN IMMEDIATE")
                if guard is not None and raw.execute(*guard).rowcount != 1:
                    raw.rollback()
                    return False
                for sql, rows in statements:
                    if rows:
                        raw.executemany(sql, rows)
                raw.commit()
                return True
            except sqlite3.Error as exc:
                raw.rollback()
                raise _translate(exc) from exc

    def _stream(self, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as c:
            # Plain tuples: building a sqlite3.Row per row costs more than the row itself
            # when a whole log is scanned (callers index rows by position).
            c.sqlite_cursor.row_factory = None
            c.execute(sql, params)
            while True:
                rows = c.sqlite_cursor.fetchmany(size)
                if not rows:
                    return
                yield from rows

    def _id_text(self, originator_id: Any) -> str:
        return originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)

    def _id_param(self, originator_id: Any) -> Any:
        return self._id_text(originator_id)

    def _max_index(self, cur: Any = None) -> int:
        sql = f"SELECT max(idx) FROM {self.leaves_table} WHERE log_id = {self.log_id}"
        value = self._query(sql)[0][0] if cur is None else cur.execute(sql).fetchone()[0]
        return -1 if value is None else value

    def _fetch_nodes(self, cur: Any, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
        if not ids:
            return {}
        leaves = [i.index for i in ids if i.level == 0]
        inner = [i for i in ids if i.level > 0]
        parts, params = [], []
        if leaves:
            parts.append(
                f"SELECT -1, idx, hash FROM {self.leaves_table} WHERE log_id = {self.log_id} "
                f"AND idx IN ({','.join('?' * len(leaves))})"
            )
            params.extend(leaves)
        if inner:
            parts.append(
                f"SELECT key, 0, hash FROM {self.nodes_table} WHERE log_id = {self.log_id} "
                f"AND key IN ({','.join('?' * len(inner))})"
            )
            params.extend(v2.node_key(n.level, n.index) for n in inner)
        sql = " UNION ALL ".join(parts)
        rows = self._query(sql, params) if cur is None else cur.execute(sql, params).fetchall()
        # A leaf row is marked -1 (keys of interior nodes are positive).
        return {NodeID(0, r[1]) if r[0] == -1 else NodeID(*v2.node_of_key(r[0])): bytes(r[2])
                for r in rows}

    # -- append ---------------------------------------------------------------------------
    def append_events(
        self, stored_events: Sequence[StoredEvent], batch: AppendBatch | None = None
    ) -> None:
        leaves = self._leaf_hashes(stored_events)
        ids = [self._id_text(s.originator_id) for s in stored_events]
        with self._writer(None if batch is None else batch.lock_wait) as raw:
            try:
                raw.execute("BEGIN IMMEDIATE")
                size, frontier = self._tree_head(raw)
                base = self._entry_base + size
                raw.executemany(self._cases_sql, self._case_rows(size, stored_events, ids))
                raw.executemany(self._insert_sql, [
                    (base + i, oid, oid, s.originator_version, s.topic, s.state)
                    for i, (s, oid) in enumerate(zip(stored_events, ids, strict=True))
                ])
                leaf_rows, node_rows, new_frontier = self._merkle_rows(
                    size, frontier, stored_events, leaves
                )
                log = self.log_id
                raw.executemany(
                    f"INSERT INTO {self.leaves_table} VALUES (?,?,?,?,?)",
                    [(log, i, h, oid, v) for (i, h, _, v), oid in zip(leaf_rows, ids, strict=True)],
                )
                raw.executemany(f"INSERT INTO {self.nodes_table} VALUES (?,?,?)", node_rows)
                if batch is not None:
                    self._insert_side_rows(raw, batch, size)
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise _translate(exc) from exc
            except BaseException:
                raw.rollback()
                raise
            if batch is not None and batch.erasures:
                _flush_wal(raw)
        self._finish(batch, size, len(stored_events), new_frontier)

    def _insert_side_rows(self, raw: sqlite3.Connection, batch: AppendBatch, size: int) -> None:
        case_no = self._case_no_sql()
        if batch.case_keys:
            raw.executemany(f"INSERT INTO vault_keys VALUES ({case_no},?)", batch.case_keys)
        if batch.openings:
            raw.executemany(
                f"INSERT INTO vault_openings VALUES ({case_no},?,?,?)",
                [(o.case_id, o.case_seq, o.field, o.sealed) for o in batch.openings],
            )
        if batch.idempotency:
            raw.executemany(
                "INSERT INTO idempotency (tenant, key, request_hash, response, created_at) "
                "VALUES (?,?,?,?,?)",
                batch.idempotency_rows(size),
            )
            raw.executemany(
                "INSERT INTO idempotency_cases VALUES (?,?,?) ON CONFLICT DO NOTHING",
                batch.idempotency_case_rows(),
            )
        if batch.erasures:
            # Deleted cells are overwritten with zeros, not left in free space on the page.
            raw.execute("PRAGMA secure_delete = ON")
        # After the inserts: an erasure also covers openings sealed earlier in this batch.
        for sql, rows in erasure_statements(batch.erasures, "?", case_no):
            raw.executemany(sql, rows)

    # -- whole-log verification (read-only) -------------------------------------------------
    def audit_connect(self) -> tuple[str, dict[str, Any]] | None:
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:
            return None  # another connection would see another (empty) database
        return "sqlite", {"database": pool.db_name}


class _RawSql:
    """The version checks' view of a raw connection (`migrations.version.Sql`)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.raw.execute(sql, params).fetchall()]

    def table_names(self) -> set[str]:
        return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


class Factory(SQLiteFactory):
    """Builds Merkle recorders whose tables are prefixed by the application's name."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.waits = Waits.from_env(self.env)
        self.recorders: list[MerkleSQLiteRecorder] = []
        # The busy timeout of every connection the pool opens (eventsourcing takes whole
        # seconds; sqlite3.connect takes any): BEGIN IMMEDIATE waits at most this long.
        if self.waits.lock_timeout_ms:
            self.datastore.pool.lock_timeout = self.waits.lock_timeout_ms / 1000  # type: ignore[assignment]

    def application_recorder(self) -> MerkleSQLiteRecorder:  # type: ignore[override]
        recorder = MerkleSQLiteRecorder(
            self.datastore, prefix=self.env.name.lower(), waits=self.waits,
            log_id=log_id_from_env(self.env),
        )
        self.recorders.append(recorder)
        if self.env_create_table():
            recorder.create_table()
        else:
            recorder._check_schema()
        return recorder

    def close(self) -> None:
        for recorder in self.recorders:
            recorder.close_writer()
        super().close()
