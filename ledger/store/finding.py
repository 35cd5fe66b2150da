"""Queries for finding things: a tenant's cases in the case index, API keys and revocations.

Mixed into the store (`ledger.store.base.MerkleStore`); read-only except `revoke_api_key`.
Revocations live in their own append-only table rather than in a column of `api_keys`: a
`CREATE TABLE IF NOT EXISTS` is the same statement on both backends and on databases created
before revocation existed (SQLite has no `ADD COLUMN IF NOT EXISTS`), and a key's row is never
rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

KEY_REVOCATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS api_key_revocations (key_id TEXT PRIMARY KEY, "
    "revoked_at TEXT NOT NULL, revoked_by TEXT NOT NULL)"
)

# `opened_at` is stored as `occurred_at` is rendered: UTC, microseconds only when non-zero
# ("...:00Z", "...:00.250000Z"). As text "...:00.25Z" sorts before "...:00Z", so comparisons
# use the full-width form ("...:00.000000Z"), which sorts as time.
_OPENED_FULL = (
    "(CASE WHEN length(opened_at) = 20 THEN substr(opened_at, 1, 19) || '.000000Z' "
    "ELSE opened_at END)"
)


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
class KeyRow:
    """An API key as an admin may see it: never its token nor the token's hash."""

    id: str
    role: str
    tenant: str
    cases: str  # JSON list
    created_at: str
    revoked_at: str | None
    revoked_by: str | None


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class FindingMixin:
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

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

    def list_api_keys(self, tenant: str | None = None) -> list[KeyRow]:
        """Keys (of one tenant, or all) by creation time, with their revocation if any."""
        sql = ("SELECT k.id, k.role, k.tenant, k.cases, k.created_at, r.revoked_at, r.revoked_by "
               "FROM api_keys k LEFT JOIN api_key_revocations r ON r.key_id = k.id")
        params: list[Any] = []
        if tenant is not None:
            sql += " WHERE k.tenant = ?"
            params.append(tenant)
        return [KeyRow(*r) for r in self._query(sql + " ORDER BY k.created_at, k.id", params)]

    def api_key_row(self, key_id: str) -> KeyRow | None:
        rows = self._query(
            "SELECT k.id, k.role, k.tenant, k.cases, k.created_at, r.revoked_at, r.revoked_by "
            "FROM api_keys k LEFT JOIN api_key_revocations r ON r.key_id = k.id WHERE k.id = ?",
            (key_id,),
        )
        return KeyRow(*rows[0]) if rows else None

    def revoke_api_key(self, key_id: str, revoked_at: str, revoked_by: str) -> None:
        """Record a revocation; revoking again keeps the first record (when, and by whom)."""
        self._execute(
            "INSERT INTO api_key_revocations (key_id, revoked_at, revoked_by) VALUES (?, ?, ?) "
            "ON CONFLICT (key_id) DO NOTHING",
            (key_id, revoked_at, revoked_by),
        )

    def case_tenants(self) -> list[str]:
        """Every tenant with a case in the case index (for the operator's `temoin cases`)."""
        return [r[0] for r in self._query("SELECT DISTINCT tenant FROM case_index ORDER BY tenant")]
