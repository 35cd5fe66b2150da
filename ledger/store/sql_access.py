"""What every table family's queries stand on: the backend's four ways to reach the database.

Each family (keys, evidence, vault, attestations, projections, log registry, the Merkle log) is
a mixin written once for both backends against these methods; the SQLite and PostgreSQL
recorders implement them (placeholders, connections, driver errors translated).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

Statements = Sequence[tuple[str, Sequence[Sequence[Any]]]]


class SqlAccess:
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _stream(self, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[Any]:
        raise NotImplementedError

    def _transaction(self, statements: Statements,
                     guard: tuple[str, Sequence[Any]] | None = None) -> bool:
        """Run each (statement, rows) in one transaction; False (nothing written) if `guard`
        (an UPDATE) changed no row."""
        raise NotImplementedError
