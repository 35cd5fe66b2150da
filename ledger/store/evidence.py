"""Which tenant uploaded which evidence file (the bytes live in the data folder,
`ledger.evidence`): one row per (tenant, sha256), never rewritten.

Mixed into the store (`ledger.store.base.MerkleStore`).
"""

from __future__ import annotations

from ledger.store.migrations.v2 import LOG_ONE
from ledger.store.sql_access import SqlAccess


def evidence_ddl(keyed: str) -> str:
    return (
        "CREATE TABLE IF NOT EXISTS evidence (tenant TEXT NOT NULL, sha256 TEXT NOT NULL, "
        "media_type TEXT NOT NULL, size BIGINT NOT NULL, stored_at TEXT NOT NULL, "
        f"PRIMARY KEY (tenant, sha256)){keyed}"
    )


class EvidenceMixin(SqlAccess):
    log_id: int

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
        """(tenant, sha256, media type, size) of every upload of this log's tenants, for
        `temoin verify`. The other logs' uploads are theirs to verify: a file that another
        log's retention run destroyed is gone on purpose, which only that log's entries say
        (a tenant writes to one log for good, ledger/logs.py)."""
        if self.log_id == LOG_ONE:  # every tenant without a log of its own
            where, args = ("WHERE tenant NOT IN (SELECT tenant FROM log_tenants "
                           "WHERE log_id <> ?)"), (LOG_ONE,)
        else:
            where, args = "WHERE tenant IN (SELECT tenant FROM log_tenants WHERE log_id = ?)", (
                self.log_id,)
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._query(
                f"SELECT tenant, sha256, media_type, size FROM evidence {where}", args)
        ]
