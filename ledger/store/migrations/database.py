"""A bare connection for migrations: the recorders are not opened (they refuse an old schema).

'?' placeholders on both backends; `transaction()` commits everything inside it or nothing, so
that a migration killed at any point (even SIGKILL) leaves the last committed batch and its
recorded position, never half of one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from ledger.store.migrations.v1 import Dialect


class Database:
    def __init__(self, dialect: Dialect, conn: Any) -> None:
        self.dialect: Dialect = dialect
        self._conn = conn

    @classmethod
    def open(cls, url: str) -> Database:
        if url.startswith("sqlite:///"):
            conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            # Each batch is one transaction recording its own position: a crash loses at most
            # the batch in flight, which a rerun redoes; FULL sync buys nothing here.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")
            # Debian's SQLite zeroes every freed page (SECURE_DELETE): dropping the old log
            # tables would write them all again. They hold hashes, checkpoints and ids, no
            # personal data (that lives in the vault tables, which no migration drops).
            conn.execute("PRAGMA secure_delete = FAST")
            return cls("sqlite", conn)
        import psycopg

        parts = urlsplit(url)
        conn = psycopg.connect(
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
            user=unquote(parts.username or "postgres"), password=unquote(parts.password or ""),
            autocommit=True,
        )
        # The same reasoning as SQLite's synchronous = NORMAL: a lost batch is redone.
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET statement_timeout = 0")
        return cls("postgres", conn)

    def close(self) -> None:
        self._conn.close()

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._conn.execute(self._sql(sql), params).fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(self._sql(sql), params)

    def table_names(self) -> set[str]:
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        return {r[0] for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.dialect == "postgres":
            with self._conn.transaction():
                yield
            return
        # IMMEDIATE: take the write lock first, so that the batch never fails half-way on it.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.execute("COMMIT")
