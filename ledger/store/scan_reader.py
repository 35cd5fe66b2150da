"""A read-only snapshot of a whole log for the fast pass of `temoin verify`
(`ledger.audit_scan`): each worker process opens its own connection, never the caller's.

It lives in the store because it holds a database connection: what it raises is a
`ledger.errors` kind (`ledger.store.driver_errors`), the driver's error as `__cause__`.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ledger.store.driver_errors import translated

_FETCH = 8192


@dataclass(frozen=True, slots=True)
class Source:
    """How a worker reaches the database: its own connection, never the caller's."""

    dialect: str  # "sqlite" or "postgres"
    connect: dict[str, Any]  # sqlite: {"database": uri}; postgres: psycopg.connect kwargs
    leaves: str
    nodes: str
    events: str
    log_id: int = 1  # the log of the shared tables (schema version 2)
    # Other logs' rows are in the events and vault tables too: leave them to their own logs.
    shared: bool = False


class ScanReader:
    """One connection, one read-only snapshot, '?' placeholders for both databases."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.pg = source.dialect == "postgres"
        self._names = 0
        with translated():
            self._connect(source)

    def _connect(self, source: Source) -> None:
        if self.pg:
            self.conn: Any = psycopg.connect(**source.connect)
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True  # one snapshot for every query below
            # Entries are read by case: the planner must merge the two primary keys (~1 µs a
            # row) rather than probe the events index once per leaf (~3 µs), which it
            # prefers when the tables were never analysed (a freshly built log).
            # Disabling plan types makes the estimated costs huge, which would trigger JIT
            # compilation (hundreds of ms per query for nothing): off too.
            for setting in ("enable_nestloop", "enable_hashjoin", "enable_sort", "jit"):
                self.conn.execute(f"SET LOCAL {setting} = off")
        else:
            self.conn = sqlite3.connect(source.connect["database"], uri=True,
                                        isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN")  # one WAL snapshot for every query below

    def close(self) -> None:
        with translated():
            try:
                self.conn.rollback() if self.pg else self.conn.execute("ROLLBACK")
            finally:
                self.conn.close()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with translated():
            return self._query(sql, params)

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self.pg:
            with self.conn.cursor(binary=True) as cur:
                cur.execute(self._sql(sql), params)
                return cur.fetchall()
        return self.conn.execute(sql, params).fetchall()

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a query, fetched in batches (a server-side cursor on PostgreSQL, binary:
        bytea as bytes). chain() hands out the rows without a generator step per row."""
        return itertools.chain.from_iterable(self._batches(sql, params))

    def _batches(self, sql: str, params: Sequence[Any]) -> Iterator[list[tuple[Any, ...]]]:
        with translated():
            yield from self._fetch(sql, params)

    def _fetch(self, sql: str, params: Sequence[Any]) -> Iterator[list[tuple[Any, ...]]]:
        if not self.pg:
            cur = self.conn.cursor()
            try:
                cur.execute(sql, params)
                while rows := cur.fetchmany(_FETCH):
                    yield rows
            finally:
                cur.close()
            return
        self._names += 1
        cur = self.conn.cursor(name=f"audit_{self._names}", binary=True)
        cur.execute(self._sql(sql), params)
        # A thread fetches the next batch while this one is checked: the server computes
        # it meanwhile (psycopg waits for the network without the GIL) instead of idling
        # until the client asks. Queries on the connection take turns on psycopg's lock.
        batches: queue.Queue[list[tuple[Any, ...]] | BaseException] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def fetch() -> None:
            try:
                while not stop.is_set():
                    rows = cur.fetchmany(_FETCH)
                    batches.put(rows)
                    if not rows:
                        return
            except BaseException as exc:  # handed to the consumer, which raises it
                batches.put(exc)

        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        try:
            while True:
                item = batches.get()
                if isinstance(item, BaseException):
                    raise item
                if not item:
                    return
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a fetcher waiting to put a batch
                with contextlib.suppress(queue.Empty):
                    batches.get(timeout=0.05)
            thread.join()
            cur.close()
