"""Which tenant uploaded which evidence file (the bytes live in the data folder,
`ledger.evidence`): one row per (tenant, sha256), never rewritten.

Mixed into the store (`ledger.store.base.MerkleStore`).
"""

from __future__ import annotations

from ledger.store.sql_access import SqlAccess


def evidence_ddl(keyed: str) -> str:
    return (
        "CREATE TABLE IF NOT EXISTS evidence (tenant TEXT NOT NULL, sha256 TEXT NOT NULL, "
        "media_type TEXT NOT NULL, size BIGINT NOT NULL, stored_at TEXT NOT NULL, "
        f"PRIMARY KEY (tenant, sha256)){keyed}"
    )


class EvidenceMixin(SqlAccess):
    def register_evidence(self, tenant: str, sha256: str, media_type: str, size: int,
                          stored_at: str) -> bool:
        """Record that `tenant` uploaded a file; False if it had already."""
        before = self.evidence(tenant, sha256)
        if before is not None:
            return False
        self._execute(
            "INSERT INTO evidence (tenant, sha256, media_type, size, stored_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, sha256) DO NOTHING",
            (tenant, sha256, media_type, size, stored_at),
        )
        return True

    def evidence(self, tenant: str, sha256: str) -> tuple[str, int] | None:
        """(media type, size) of a file `tenant` uploaded, None if it never did."""
        rows = self._query(
            "SELECT media_type, size FROM evidence WHERE tenant = ? AND sha256 = ?",
            (tenant, sha256),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def all_evidence(self) -> list[tuple[str, str, str, int]]:
        """(tenant, sha256, media type, size) of every upload, for `temoin verify`."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._query("SELECT tenant, sha256, media_type, size FROM evidence")
        ]
