"""Tables of the read-side projections (case index, timeline rows), their positions, and the
queries that find a tenant's cases in the case index.

Each log has its own projections (schema version 3, `ledger/store/migrations/v3.py`): the store
of log N writes and reads log N's rows and position only (`self.log_id`). The case queries are
by tenant, and a tenant belongs to exactly one log, so they need no log id.

A projection's rows and its position are written in ONE transaction, so a crash can never
leave rows applied without the position moving (or the reverse); the position update is
conditional, so two runners racing on the same projection cannot both apply a chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.store.migrations.v3 import PROJECTION_DDL
from ledger.store.sql_access import SqlAccess

__all__ = ["PROJECTION_DDL", "CaseIndexRow", "CaseQuery", "ProjectionTablesMixin", "TimelineRow"]


@dataclass(slots=True)
class CaseIndexRow:
    """A case's row, or (in the runner) the change one chunk brings to it: mutable for that."""

    tenant: str
    case: str
    status: str | None
    entries: int
    last_seq: int
    opened_at: str | None
    closed_at: str | None
    first_index: int
    last_index: int


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """What to find among one tenant's cases; every field but `tenant` narrows the result."""

    tenant: str
    after: str | None = None  # keyset: case ids strictly after this one
    status: str | None = None
    opened_from: str | None = None  # full-width UTC text, inclusive
    opened_until: str | None = None  # full-width UTC text, exclusive
    contains: str | None = None  # case id substring, case-insensitive
    only: frozenset[str] | None = None  # a lawyer's cases
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TimelineRow:
    index: int
    tenant: str
    case: str
    case_seq: int
    row: str  # the timeline row as canonical JSON



# `opened_at` is stored as `occurred_at` is rendered: UTC, microseconds only when non-zero
# ("...:00Z", "...:00.250000Z"). As text "...:00.25Z" sorts before "...:00Z", so comparisons
# use the full-width form ("...:00.000000Z"), which sorts as time.
_OPENED_FULL = (
    "(CASE WHEN length(opened_at) = 20 THEN substr(opened_at, 1, 19) || '.000000Z' "
    "ELSE opened_at END)"
)


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_CASE_COLUMNS = (
    "INSERT INTO case_index (log_id, tenant, case_id, status, entries, last_seq, opened_at, "
    "closed_at, first_index, last_index)"
)
_CASE_TYPES = ("integer", "text", "text", "text", "bigint", "bigint", "text", "text", "bigint",
               "bigint")
_TIMELINE_COLUMNS = (
    "INSERT INTO timeline_rows (log_id, idx, tenant, case_id, case_seq, row_json)"
)
_TIMELINE_TYPES = ("integer", "bigint", "text", "text", "bigint", "text")
_CASE_FIELDS = ("tenant, case_id, status, entries, last_seq, opened_at, closed_at, "
                "first_index, last_index")
_ON_CONFLICT_CASE = (
    " ON CONFLICT (tenant, case_id) DO UPDATE SET "
    "status = COALESCE(excluded.status, case_index.status), "
    "entries = case_index.entries + excluded.entries, "
    "last_seq = excluded.last_seq, opened_at = COALESCE(case_index.opened_at, excluded.opened_at), "
    "closed_at = COALESCE(excluded.closed_at, case_index.closed_at), "
    "last_index = excluded.last_index"
)


class ProjectionTablesMixin(SqlAccess):
    log_id: int  # the log whose projections these are (the store's)

    def _bulk(self, head: str, types: Sequence[str], rows: Sequence[Sequence[Any]],
              tail: str = "") -> tuple[str, Sequence[Sequence[Any]]]:
        """A multi-row INSERT for `_transaction` (executemany). Sending PostgreSQL one
        statement of unnest()ed text arrays instead was measured 1.5-2x slower for a
        5,000-row projection chunk (psycopg escapes every JSON row into the array literal)."""
        return f"{head} VALUES ({', '.join('?' * len(types))}){tail}", rows

    def projection_position(self, name: str) -> int:
        rows = self._query(
            "SELECT position FROM projection_positions WHERE log_id = ? AND name = ?",
            (self.log_id, name))
        if rows:
            return int(rows[0][0])
        self._execute(
            "INSERT INTO projection_positions (log_id, name, position) VALUES (?, ?, 0) "
            "ON CONFLICT (log_id, name) DO NOTHING",
            (self.log_id, name),
        )
        return 0

    def save_projection(self, name: str, old: int, new: int, cases: Sequence[CaseIndexRow],
                        timeline: Sequence[TimelineRow]) -> bool:
        """Apply one chunk; False (nothing written) if another runner moved the position."""
        log = self.log_id
        return self._transaction(
            [
                self._bulk(_CASE_COLUMNS, _CASE_TYPES, [
                    (log, c.tenant, c.case, c.status, c.entries, c.last_seq, c.opened_at,
                     c.closed_at, c.first_index, c.last_index) for c in cases
                ], _ON_CONFLICT_CASE),
                self._bulk(_TIMELINE_COLUMNS, _TIMELINE_TYPES,
                           [(log, t.index, t.tenant, t.case, t.case_seq, t.row)
                            for t in timeline]),
            ],
            guard=("UPDATE projection_positions SET position = ? "
                   "WHERE log_id = ? AND name = ? AND position = ?", (new, log, name, old)),
        )

    def reset_projections(self, name: str) -> None:
        """Empty this log's projections and rewind its position; other logs' are untouched."""
        log = self.log_id
        self._transaction(
            [
                ("DELETE FROM case_index WHERE log_id = ?", [(log,)]),
                ("DELETE FROM timeline_rows WHERE log_id = ?", [(log,)]),
                ("UPDATE projection_positions SET position = 0 WHERE log_id = ? AND name = ?",
                 [(log, name)]),
            ]
        )

    def case_index(self, tenant: str, case: str) -> CaseIndexRow | None:
        rows = self._query(
            f"SELECT {_CASE_FIELDS} FROM case_index WHERE tenant = ? AND case_id = ?",
            (tenant, case),
        )
        return CaseIndexRow(*rows[0]) if rows else None

    def all_case_index(self) -> list[CaseIndexRow]:
        """This log's case index."""
        return [CaseIndexRow(*r) for r in self._query(
            f"SELECT {_CASE_FIELDS} FROM case_index WHERE log_id = ? ORDER BY tenant, case_id",
            (self.log_id,))]

    def timeline_rows(self, tenant: str, case: str, below: int | None = None) -> list[str]:
        sql = "SELECT row_json FROM timeline_rows WHERE tenant = ? AND case_id = ?"
        params: list[Any] = [tenant, case]
        if below is not None:
            sql += " AND idx < ?"
            params.append(below)
        return [r[0] for r in self._query(sql + " ORDER BY idx", params)]

    def all_timeline_rows(self) -> list[tuple[int, str]]:
        """This log's timeline rows, by leaf index."""
        return [(r[0], r[1]) for r in self._query(
            "SELECT idx, row_json FROM timeline_rows WHERE log_id = ? ORDER BY idx",
            (self.log_id,))]

    def find_cases(self, q: CaseQuery) -> list[tuple[Any, ...]]:
        """Up to `q.limit` rows (case, status, entries, last_seq, opened_at, closed_at) in case
        id order: one index range scan on the (tenant, case_id) primary key."""
        sql = ("SELECT case_id, status, entries, last_seq, opened_at, closed_at FROM case_index "
               "WHERE tenant = ?")
        params: list[Any] = [q.tenant]
        if q.after is not None:
            sql += " AND case_id > ?"
            params.append(q.after)
        if q.status is not None:
            sql += " AND status = ?"
            params.append(q.status)
        if q.opened_from is not None:
            sql += f" AND {_OPENED_FULL} >= ?"
            params.append(q.opened_from)
        if q.opened_until is not None:
            sql += f" AND {_OPENED_FULL} < ?"
            params.append(q.opened_until)
        if q.contains is not None:
            sql += " AND lower(case_id) LIKE ? ESCAPE '\\'"
            params.append(_like_pattern(q.contains))
        if q.only is not None:
            if not q.only:
                return []
            sql += f" AND case_id IN ({', '.join('?' * len(q.only))})"
            params.extend(sorted(q.only))
        sql += " ORDER BY case_id LIMIT ?"
        params.append(q.limit)
        return self._query(sql, params)

    def case_tenants(self) -> list[str]:
        """Every tenant with a case in this log's case index (the operator's `temoin cases`)."""
        return [r[0] for r in self._query(
            "SELECT DISTINCT tenant FROM case_index WHERE log_id = ? ORDER BY tenant",
            (self.log_id,))]
