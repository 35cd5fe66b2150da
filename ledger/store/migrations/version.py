"""The schema version of a database, and the one message for a database this release cannot use.

`schema_version` holds one row per version the database has reached (`applied_at` set) and, while
`temoin migrate` runs, one row for the version it is moving to (`applied_at` NULL, `state` the
position to resume from). A database made before versions existed has no such table and counts
as version 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.errors import ConfigurationError

LATEST = 3  # the layout this release reads and writes

SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
    "applied_at TEXT, state TEXT)"
)


class Sql(Protocol):
    """What the version checks need of a connection ('?' placeholders on both backends)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def table_names(self) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class SchemaState:
    version: int  # the newest version fully applied (0: an empty database)
    pending: int | None  # the version a migration is moving to, if one was interrupted
    state: str | None  # that migration's resume position (JSON)


class SchemaVersionError(ConfigurationError):
    """The database's layout is not the one this release reads: nothing was opened."""

    def __init__(self, found: int, needed: int, pending: int | None = None) -> None:
        self.found, self.needed, self.pending = found, needed, pending
        if pending is not None:
            msg = (f"the database schema is version {found} with a migration to version "
                   f"{pending} not finished; this Témoin needs version {needed}: "
                   f"run `temoin migrate` to finish it")
        elif found < needed:
            msg = (f"the database schema is version {found}; this Témoin needs version "
                   f"{needed}: stop every Témoin process on it and run `temoin migrate`")
        else:
            msg = (f"the database schema is version {found}, newer than version {needed} "
                   f"that this Témoin reads: upgrade Témoin")
        super().__init__(msg)


def is_v1(tables: set[str]) -> bool:
    """A database of the release before versions: it has a log's node table."""
    return any(t.endswith("_nodes") for t in tables)


def read_state(db: Sql) -> SchemaState:
    tables = db.table_names()
    if "schema_version" not in tables:
        return SchemaState(1 if is_v1(tables) else 0, None, None)
    rows = db.query("SELECT version, applied_at, state FROM schema_version ORDER BY version")
    applied = [r[0] for r in rows if r[1] is not None]
    pending = [r for r in rows if r[1] is None]
    version = max(applied) if applied else (1 if is_v1(tables) else 0)
    if pending:
        return SchemaState(version, int(pending[-1][0]), pending[-1][2])
    return SchemaState(version, None, None)


def require_latest(state: SchemaState) -> None:
    """Raise unless the database is exactly at this release's version (0: about to be made)."""
    if state.pending is not None or state.version not in (0, LATEST):
        raise SchemaVersionError(state.version, LATEST, state.pending)
