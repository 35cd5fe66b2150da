"""Database driver errors become errors of the tree here, at the store's edge.

Nothing above `ledger/store/` imports psycopg, psycopg_pool or sqlite3 (tests/
test_import_rules.py): what leaves the store is a `ledger.errors` kind, with the driver's
error as `__cause__` (for the server log; its text can name hosts and users, so it is never
the user's sentence):

- a bounded wait that ran out (PostgreSQL 55P03 lock_not_available, 57014 query_canceled by
  statement_timeout; SQLite "database is locked" or "busy"; this process's writer connection
  not free in time): `DatabaseBusyError` (503 busy, retry shortly);
- a unique key taken by a concurrent writer (IntegrityError): `WriteConflictError` (409; the
  append path decides again on fresh state);
- OperationalError, InterfaceError (connection refused or lost, server restarting, psycopg_pool's
  PoolTimeout, eventsourcing's ConnectionUnavailableError): `DatabaseUnavailableError` (503);
- anything else (ProgrammingError, DataError...), a statement the database refuses:
  `StatementError` (500: a bug).

A store class is wrapped once by `translating`: each public method, and the few primitives
every query goes through (`_stream` also while its rows are iterated), translate on the way
out. An error of the tree passes untouched, as does anything that is not a database error.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from eventsourcing import persistence as es

from ledger.errors import (
    DatabaseBusyError,
    DatabaseUnavailableError,
    StatementError,
    TemoinError,
    WriteConflictError,
)
from ledger.store.waits import is_wait_timeout

# What a database can raise: the drivers' roots and eventsourcing's (which wraps them).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.Error, sqlite3.Error, es.PersistenceError,
)
_INTEGRITY = (psycopg.IntegrityError, sqlite3.IntegrityError, es.IntegrityError)
# psycopg_pool's PoolTimeout is a psycopg.OperationalError; eventsourcing's
# ConnectionUnavailableError (no pooled connection in time) an es.OperationalError.
_UNAVAILABLE = (
    psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError,
    sqlite3.InterfaceError, es.OperationalError, es.InterfaceError,
)

# The primitives of the backends through which every statement of the Merkle tables runs;
# wrapped besides the public methods, since callers inside the store (and tests) call them.
_PRIMITIVES = ("_query", "_execute", "_transaction", "_stream")

C = TypeVar("C", bound=type)


def is_driver_error(exc: BaseException) -> bool:
    return isinstance(exc, DRIVER_ERRORS)


def translate(exc: BaseException) -> TemoinError:
    """The tree's error for a database error `exc` (see the module's table)."""
    if is_wait_timeout(exc):
        return DatabaseBusyError()
    if isinstance(exc, _INTEGRITY):
        return WriteConflictError(
            "another writer stored a row with the same key first (a concurrent append to the "
            "same case, or the same Idempotency-Key); nothing of this write was stored"
        )
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailableError()
    return StatementError()


@contextmanager
def translated() -> Iterator[None]:
    """Translate the database errors raised in the block (for code that holds a connection
    of its own rather than being a method of a translated class)."""
    try:
        yield
    except TemoinError:
        raise
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc


def _wrap(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(method):
        # Rows of a generator are read lazily, after the call returned: translate while
        # iterating too.
        @functools.wraps(method)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(*args, **kwargs)
            except TemoinError:
                raise
            except DRIVER_ERRORS as exc:
                raise translate(exc) from exc

        return generator

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except TemoinError:
            raise
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    return call


def translating(cls: C) -> C:
    """Make every public method of the store class `cls` (its own and inherited ones, such as
    eventsourcing's recorder methods) and its query primitives raise tree errors only."""
    for name in dir(cls):
        if name.startswith("_") and name not in _PRIMITIVES:
            continue
        attr = inspect.getattr_static(cls, name)
        if not inspect.isfunction(attr) or getattr(attr, "__translated__", False):
            continue  # properties, class and static methods hold no connection
        if inspect.isgeneratorfunction(attr) and name not in _PRIMITIVES:
            # The public generators (iter_leaves, ...) read through `_stream` or public
            # methods, which translate: a second wrapper would only cost a generator step per
            # row (~0.2 µs measured, 0.2 s per million leaves of `temoin verify`).
            continue
        wrapped = _wrap(attr)
        wrapped.__translated__ = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)
    return cls
