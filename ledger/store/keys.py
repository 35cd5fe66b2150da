"""API keys, their revocations and Idempotency-Key records (API.md "Authentication",
"Appending").

Mixed into the store (`ledger.store.base.MerkleStore`). Revocations live in their own
append-only table rather than in a column of `api_keys`: a `CREATE TABLE IF NOT EXISTS` is the
same statement on both backends and on databases created before revocation existed (SQLite has
no `ADD COLUMN IF NOT EXISTS`), and a key's row is never rewritten. Idempotency records are
written by the append transaction (`ledger.store.batch`); this module reads and purges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.store.sql_access import SqlAccess

KEY_REVOCATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS api_key_revocations (key_id TEXT PRIMARY KEY, "
    "revoked_at TEXT NOT NULL, revoked_by TEXT NOT NULL)"
)



def keys_ddl(keyed: str) -> list[str]:
    """`keyed` ends the tables looked up by their primary key only (see `side_tables_ddl`)."""
    return [
        "CREATE TABLE IF NOT EXISTS idempotency (tenant TEXT NOT NULL, key TEXT NOT NULL, "
        "request_hash TEXT NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL, "
        f"PRIMARY KEY (tenant, key)){keyed}",
        "CREATE TABLE IF NOT EXISTS idempotency_cases (case_id TEXT NOT NULL, "
        f"tenant TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (case_id, tenant, key)){keyed}",
        "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, "
        "role TEXT NOT NULL, tenant TEXT NOT NULL, cases TEXT NOT NULL, "
        "created_at TEXT NOT NULL)",
        KEY_REVOCATIONS_DDL,
    ]


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


_KEY_ROW = ("SELECT k.id, k.role, k.tenant, k.cases, k.created_at, r.revoked_at, r.revoked_by "
            "FROM api_keys k LEFT JOIN api_key_revocations r ON r.key_id = k.id")


class KeysMixin(SqlAccess):
    def insert_api_key(self, key_id: str, token_hash: str, role: str, tenant: str,
                       cases: str, created_at: str) -> None:
        self._execute(
            "INSERT INTO api_keys (id, token_hash, role, tenant, cases, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, token_hash, role, tenant, cases, created_at),
        )

    def api_key(self, key_id: str) -> tuple[str, str, str, str, str] | None:
        """(token_hash, role, tenant, cases JSON, created_at) of a key id, None once revoked.

        One query on every authenticated request (no cache): a revocation is seen by the next
        request of every worker."""
        rows = self._query(
            "SELECT token_hash, role, tenant, cases, created_at FROM api_keys WHERE id = ? "
            "AND NOT EXISTS (SELECT 1 FROM api_key_revocations r WHERE r.key_id = api_keys.id)",
            (key_id,),
        )
        return (rows[0][0], rows[0][1], rows[0][2], rows[0][3], rows[0][4]) if rows else None

    def list_api_keys(self, tenant: str | None = None) -> list[KeyRow]:
        """Keys (of one tenant, or all) by creation time, with their revocation if any."""
        sql = _KEY_ROW
        params: list[Any] = []
        if tenant is not None:
            sql += " WHERE k.tenant = ?"
            params.append(tenant)
        return [KeyRow(*r) for r in self._query(sql + " ORDER BY k.created_at, k.id", params)]

    def api_key_row(self, key_id: str) -> KeyRow | None:
        rows = self._query(_KEY_ROW + " WHERE k.id = ?", (key_id,))
        return KeyRow(*rows[0]) if rows else None

    def revoke_api_key(self, key_id: str, revoked_at: str, revoked_by: str) -> None:
        """Record a revocation; revoking again keeps the first record (when, and by whom)."""
        self._execute(
            "INSERT INTO api_key_revocations (key_id, revoked_at, revoked_by) VALUES (?, ?, ?) "
            "ON CONFLICT (key_id) DO NOTHING",
            (key_id, revoked_at, revoked_by),
        )

    def idempotency_record(self, tenant: str, key: str) -> tuple[str, str, str] | None:
        """(request_hash, response JSON, created_at) stored for a tenant's Idempotency-Key."""
        rows = self._query(
            "SELECT request_hash, response, created_at FROM idempotency "
            "WHERE tenant = ? AND key = ?",
            (tenant, key),
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def purge_idempotency(self, before: str) -> int:
        """Delete the records created before `before`; returns how many there were."""
        count = self._query("SELECT count(*) FROM idempotency WHERE created_at < ?", (before,))
        self._execute("DELETE FROM idempotency WHERE created_at < ?", (before,))
        # Then the case links left without a record (also those of a purge that crashed).
        self._execute(
            "DELETE FROM idempotency_cases WHERE NOT EXISTS (SELECT 1 FROM idempotency i "
            "WHERE i.tenant = idempotency_cases.tenant AND i.key = idempotency_cases.key)"
        )
        return int(count[0][0])
