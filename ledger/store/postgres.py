"""PostgreSQL persistence (production): eventsourcing's recorder plus the Merkle tables.

Select it the eventsourcing way: `PERSISTENCE_MODULE=ledger.store.postgres` and the usual
`POSTGRES_*` settings. We append with our own `append_events`, so that the events, the leaves,
the nodes and the side rows share one transaction that rolls back on *any* exception:
eventsourcing's own post-insert hook swallows exceptions inside the transaction block, which
would commit a half-written append.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import persistence as es
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from psycopg.sql import SQL

from ledger.merkle import NodeID
from ledger.store.base import MerkleStore
from ledger.store.batch import AppendBatch, erasure_statements
from ledger.store.driver_errors import translating
from ledger.store.log_ids import log_id_from_env
from ledger.store.migrations import v2, v4
from ledger.store.migrations.v2 import LOG_ONE
from ledger.store.migrations.version import LATEST, SCHEMA_VERSION_DDL, read_state, require_latest
from ledger.store.waits import Waits

_DDL_LOCK = 0x7E30_1D0C  # advisory lock id for schema creation, shared by every Témoin process


def log_lock_key(prefix: str, log_id: int) -> tuple[int, int]:
    """The two int4 keys of one log's writer lock (`pg_advisory_xact_lock(int4, int4)`): the
    log family (a CRC of its table prefix, as a signed int4) and the log id. The two-key form
    is a key space of its own, apart from the one-bigint `_DDL_LOCK`."""
    family = zlib.crc32(prefix.encode("ascii"))
    return (family - (1 << 32) if family >= 1 << 31 else family), log_id


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"table name must be ASCII letters, digits and _, got {name!r}")
    return f'"{name}"'


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _GuardFailed(Exception):
    """Rolls the transaction back when a conditional update matched no row."""


def _translate(exc: psycopg.Error) -> es.PersistenceError:
    if isinstance(exc, psycopg.IntegrityError):
        return es.IntegrityError(str(exc))
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return es.OperationalError(str(exc))
    return es.DatabaseError(str(exc))


@translating  # driver errors leave the store as tree errors (ledger/store/driver_errors.py)
class MerklePostgresRecorder(MerkleStore, PostgresApplicationRecorder):
    _hex_id_cast = "::uuid"

    def __init__(
        self, datastore: PostgresDatastore, prefix: str = "cases", waits: Waits | None = None,
        log_id: int = LOG_ONE,
    ) -> None:
        self.prefix = prefix
        self.log_id = log_id
        self._head = None
        self.waits = waits or Waits()
        super().__init__(datastore, events_table_name=f"{prefix}_events")
        # Our events table (`migrations.v4`) replaces eventsourcing's, and with it the
        # notification-id index and the insert function written for eventsourcing's table;
        # its composite type (CREATE TYPE) is kept: the datastore registers an adapter for it.
        self.sql_create_statements[:] = [
            s for s in self.sql_create_statements if "CREATE TYPE" in s.as_string()]
        tables = [*v4.log_tables_ddl(prefix, "postgres"), *self.side_tables_ddl("postgres")]
        for ddl in [*tables, SCHEMA_VERSION_DDL]:
            self.sql_create_statements.append(SQL(ddl))  # type: ignore[arg-type]
        # Plain strings, composed once: a psycopg `Composed` is rendered again (identifiers
        # quoted, joined) on every execute, 2-3% of the writer's time in the profile.
        events = _quoted(self.events_table_name)
        self._select_sql = (
            f"SELECT originator_id, originator_version, topic, state "
            f"FROM {_quoted(self.datastore.schema)}.{events} WHERE case_no = "
            f"(SELECT case_no FROM {self.cases_table} WHERE case_id = %s)"
        )
        # One writer lock per log, not a table lock: the logs sharing these tables append in
        # parallel (issue 14). Held until the transaction ends; `lock_timeout` bounds its wait
        # like any lock's. Within one log, appends still commit one at a time, in index order.
        family, log = log_lock_key(prefix, self.log_id)
        self._lock_sql = f"SELECT pg_advisory_xact_lock({family}, {log})"
        self._cases_sql = (
            f"INSERT INTO {self.cases_table} (case_id, case_no) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[])"
        )
        # A case's number from its id (a case opened in this append was inserted just
        # before): NULL, refused by NOT NULL, for a case with no first event.
        self._insert_sql = (
            f"INSERT INTO {events} (entry, case_no, originator_id, originator_version, topic, "
            f"state) SELECT u.entry, (SELECT c.case_no FROM {self.cases_table} c "
            "WHERE c.case_id = u.oid), u.oid, u.version, u.topic, u.state "
            "FROM unnest(%b::bigint[], %b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "AS u(entry, oid, version, topic, state)"
        )
        self._leaves_sql = (
            f"INSERT INTO {self.leaves_table} (log_id, idx, hash, originator_id, "
            f"originator_version) SELECT {self.log_id}, * "
            "FROM unnest(%b::bigint[], %b::bytea[], %b::uuid[], %b::bigint[])"
        )
        self._nodes_sql = (
            f"INSERT INTO {self.nodes_table} (log_id, key, hash) "
            "SELECT * FROM unnest(%b::int[], %b::bigint[], %b::bytea[])"
        )

    def select_events(
        self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
        desc: bool = False, limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The recorder's read of one aggregate's events, made here without eventsourcing's
        retries: it tries ten times, waiting for a connection each time, so during an
        outage a client would wait ~half a minute. We fail fast instead and let the API
        answer 503 with Retry-After; clients retry (with their Idempotency-Key for appends)."""
        sql = self._select_sql
        params: list[Any] = [self._id_param(originator_id)]
        if gt is not None:
            sql += " AND originator_version > %s"
            params.append(gt)
        if lte is not None:
            sql += " AND originator_version <= %s"
            params.append(lte)
        sql += " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        try:
            with self.datastore.get_connection() as conn, conn.cursor(
                row_factory=psycopg.rows.tuple_row
            ) as cur:
                cur.execute(sql, params, prepare=True)
                rows = cur.fetchall()
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        return [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def create_table(self) -> None:
        # Several processes starting at once would race on eventsourcing's CREATE OR REPLACE
        # FUNCTION and CREATE TYPE ("tuple concurrently updated"): one migrator at a time.
        # Waiting for another process's migration is the one unbounded wait: it ends when
        # that migration does, and a starting server has nothing else to do meanwhile.
        with self.datastore.get_connection() as conn:
            conn.execute("SET lock_timeout = 0")
            conn.execute("SET statement_timeout = 0")
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (_DDL_LOCK,))
                try:
                    # Under the same lock as the creation: refuse another schema version
                    # before writing anything; record the newest on an empty database.
                    state = read_state(_ConnSql(conn))
                    require_latest(state)
                    super().create_table()
                    if state.version == 0:
                        conn.execute(
                            "INSERT INTO schema_version (version, applied_at) VALUES (%s, "
                            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) "
                            "ON CONFLICT (version) DO NOTHING",
                            (LATEST,),
                        )
                        conn.commit()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_DDL_LOCK,))
            finally:
                conn.execute("RESET lock_timeout")
                conn.execute("RESET statement_timeout")

    # -- connections ----------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.datastore.get_connection() as conn, conn.cursor(
                row_factory=psycopg.rows.tuple_row
            ) as cur:
                cur.execute(_pg(sql), params)
                return cur.fetchall()
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
                cur.execute(_pg(sql), params)
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def _transaction(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]],
                     guard: tuple[str, Sequence[Any]] | None = None) -> bool:
        try:
            with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
                if guard is not None:
                    cur.execute(_pg(guard[0]), guard[1])
                    if cur.rowcount != 1:
                        raise _GuardFailed
                for sql, rows in statements:
                    if rows:
                        cur.executemany(_pg(sql), rows)
            return True
        except _GuardFailed:
            return False
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def _stream(self, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[Any]:
        # A named (server-side) cursor keeps memory flat when verifying millions of leaves.
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor(
            name=f"stream_{id(self)}", row_factory=psycopg.rows.tuple_row
        ) as cur:
            # A whole-log scan (verify, projections) takes as long as the log is long: no
            # statement timeout; lock waits stay bounded.
            conn.execute("SET LOCAL statement_timeout = 0")
            cur.itersize = size
            cur.execute(_pg(sql), params)
            yield from cur

    def _id_text(self, originator_id: Any) -> str:
        if isinstance(originator_id, UUID):
            return originator_id.hex
        return UUID(str(originator_id)).hex

    def _id_param(self, originator_id: Any) -> Any:
        return originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))

    def _max_index(self, cur: Any = None) -> int:
        sql = f"SELECT max(idx) FROM {self.leaves_table} WHERE log_id = {self.log_id}"
        if cur is None:
            value = self._query(sql)[0][0]
        else:
            cur.execute(sql)
            value = cur.fetchone()[0]
        return -1 if value is None else value

    def _fetch_nodes(self, cur: Any, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
        if not ids:
            return {}
        inner = [i for i in ids if i.level > 0]
        log = self.log_id
        # A leaf row is marked -1 (keys of interior nodes are positive).
        sql = (
            f"SELECT -1, l.idx, l.hash FROM {self.leaves_table} l WHERE l.log_id = {log} "
            f"AND l.idx = ANY(?::bigint[]) UNION ALL SELECT n.key, 0, n.hash "
            f"FROM {self.nodes_table} n WHERE n.log_id = {log} AND n.key = ANY(?::bigint[])"
        )
        params = (
            [i.index for i in ids if i.level == 0],
            [v2.node_key(i.level, i.index) for i in inner],
        )
        if cur is None:
            rows = self._query(sql, params)
        else:
            cur.execute(_pg(sql), params)
            rows = cur.fetchall()
        return {NodeID(0, r[1]) if r[0] == -1 else NodeID(*v2.node_of_key(r[0])): bytes(r[2])
                for r in rows}

    # -- append ---------------------------------------------------------------------------
    def append_events(
        self, stored_events: Sequence[StoredEvent], batch: AppendBatch | None = None
    ) -> None:
        leaves = self._leaf_hashes(stored_events)
        # One typed array per column, sent in binary: eventsourcing's own statement sends an
        # array of its composite type, which psycopg dumps as escaped text field by field
        # (a tenth of the sequencer thread's time in the profile, at 64 appenders).
        ids = [self._id_param(s.originator_id) for s in stored_events]
        # The session's lock_timeout bounds the wait for the lock; callers who already waited
        # in the sequencer's queue get a shorter one (ledger/store/waits.py).
        lock_ms = self.waits.lowered_lock_ms(None if batch is None else batch.lock_wait)
        try:
            # Pipeline mode: the statements of one append travel together, so an append costs
            # two round trips (up to the head read, then the rest and COMMIT), not one each.
            with self.datastore.get_connection() as conn, conn.pipeline(), \
                    conn.transaction(), conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
                if lock_ms is not None:
                    cur.execute(f"SET LOCAL lock_timeout = {lock_ms}")
                cur.execute(self._lock_sql)
                size, frontier = self._tree_head(cur)
                base = self._entry_base + size
                opened = self._case_rows(size, stored_events, ids)
                if opened:
                    cur.execute(self._cases_sql, [list(col) for col in zip(*opened, strict=True)])
                cur.execute(self._insert_sql, (
                    list(range(base, base + len(stored_events))), ids,
                    [s.originator_version for s in stored_events],
                    [s.topic for s in stored_events], [s.state for s in stored_events],
                ))
                leaf_rows, node_rows, new_frontier = self._merkle_rows(
                    size, frontier, stored_events, leaves
                )
                cur.execute(
                    self._leaves_sql, [list(col) for col in zip(*leaf_rows, strict=True)]
                )
                if node_rows:
                    cur.execute(
                        self._nodes_sql, [list(col) for col in zip(*node_rows, strict=True)]
                    )
                if batch is not None:
                    self._insert_side_rows(cur, batch, size)
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        self._finish(batch, size, len(stored_events), new_frontier)

    def _insert_side_rows(self, cur: Any, batch: AppendBatch, size: int) -> None:
        case_no = self._case_no_sql("%s")
        if batch.case_keys:
            cur.executemany(f"INSERT INTO vault_keys VALUES ({case_no}, %s)", batch.case_keys)
        if batch.openings:
            # One statement with typed arrays: executemany binds and dumps row by row.
            openings = batch.openings
            cur.execute(
                f"INSERT INTO vault_openings SELECT (SELECT c.case_no FROM {self.cases_table} c "
                "WHERE c.case_id = u.id::uuid), u.seq, u.field, u.sealed FROM unnest(%b::text[], "
                "%b::bigint[], %b::text[], %b::bytea[]) AS u(id, seq, field, sealed)",
                (
                    [o.case_id for o in openings], [o.case_seq for o in openings],
                    [o.field for o in openings], [o.sealed for o in openings],
                ),
            )
        if batch.idempotency:
            cur.executemany(
                "INSERT INTO idempotency (tenant, key, request_hash, response, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                batch.idempotency_rows(size),
            )
            cur.executemany(
                "INSERT INTO idempotency_cases VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                batch.idempotency_case_rows(),
            )
        # After the inserts: an erasure also covers openings sealed earlier in this batch.
        for sql, rows in erasure_statements(batch.erasures, "%s", case_no):
            cur.executemany(sql, rows)

    # -- whole-log verification (read-only) -------------------------------------------------
    def audit_connect(self) -> tuple[str, dict[str, Any]] | None:
        kwargs = self.datastore.pool.kwargs
        connect = {k: kwargs[k] for k in ("dbname", "host", "port", "user", "password")
                   if k in kwargs}
        if self.datastore.schema != "public":
            connect["options"] = f"-c search_path={self.datastore.schema}"
        return "postgres", connect


class _ConnSql:
    """The version checks' view of a connection (`migrations.version.Sql`)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
            cur.execute(_pg(sql), params)
            return cur.fetchall()

    def table_names(self) -> set[str]:
        return {r[0] for r in self.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


class Factory(PostgresFactory):
    """Builds Merkle recorders whose tables are prefixed by the application's name."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.waits = Waits.from_env(self.env)
        # Session defaults of every pooled connection, sent with its start-up packet: every
        # statement's lock wait and run time are bounded without a statement per transaction.
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs["options"] = self.waits.postgres_options()

    def application_recorder(self) -> MerklePostgresRecorder:  # type: ignore[override]
        recorder = MerklePostgresRecorder(
            self.datastore, prefix=self.env.name.lower(), waits=self.waits,
            log_id=log_id_from_env(self.env),
        )
        if self.env_create_table():
            recorder.create_table()
        else:
            with self.datastore.get_connection() as conn:
                require_latest(read_state(_ConnSql(conn)))
        return recorder
