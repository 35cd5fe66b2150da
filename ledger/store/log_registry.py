"""The log registry: which logs the database holds and which tenant writes to which (issue 14
"Many logs", DESIGN §9).

Mixed into the store (`ledger.store.base.MerkleStore`). Log 1 is the deployment's own log (its
origin is `TEMOIN_LOG_ORIGIN`, its keys `log.key` and `access.key` in the data folder) and is
not a row here: a database made before the registry, or migrated from version 1, is a registry
with log 1 alone, every tenant on it. `temoin logs create` adds a row per further log and maps
tenants to it; a tenant without a row writes to log 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.store.migrations.v2 import LOG_ONE
from ledger.store.migrations.v4 import ENTRY_BITS
from ledger.store.sql_access import SqlAccess

REGISTRY_DDL = (
    "CREATE TABLE IF NOT EXISTS logs (log_id INTEGER PRIMARY KEY, origin TEXT NOT NULL UNIQUE, "
    "created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS log_tenants (tenant TEXT PRIMARY KEY, "
    "log_id INTEGER NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class LogRow:
    log_id: int
    origin: str
    created_at: str


class LogRegistryMixin(SqlAccess):
    def registered_logs(self) -> list[LogRow]:
        """The logs created by `temoin logs create` (log 1 is not among them), by id."""
        return [LogRow(int(r[0]), r[1], r[2]) for r in self._query(
            "SELECT log_id, origin, created_at FROM logs ORDER BY log_id")]

    def tenant_log(self, tenant: str) -> int:
        """The log `tenant` writes to and reads from: log 1 unless mapped elsewhere."""
        rows = self._query("SELECT log_id FROM log_tenants WHERE tenant = ?", (tenant,))
        return int(rows[0][0]) if rows else LOG_ONE

    def mapped_tenants(self) -> dict[str, int]:
        """Every tenant mapped to a log other than log 1."""
        return {r[0]: int(r[1]) for r in self._query(
            "SELECT tenant, log_id FROM log_tenants ORDER BY tenant")}

    def create_log(self, origin: str, created_at: str, tenants: Sequence[str]) -> int:
        """Register a new log (the next id) with `tenants` mapped to it, in one transaction:
        an origin or a tenant already taken (IntegrityError) leaves nothing behind. Two
        concurrent creations may pick the same id: one of them fails the same way."""
        self._transaction([
            ("INSERT INTO logs (log_id, origin, created_at) SELECT "
             f"COALESCE(MAX(log_id), {LOG_ONE}) + 1, ?, ? FROM logs", [(origin, created_at)]),
            ("INSERT INTO log_tenants (tenant, log_id) SELECT ?, log_id FROM logs "
             "WHERE origin = ?", [(t, origin) for t in tenants]),
        ])
        return int(self._query("SELECT log_id FROM logs WHERE origin = ?", (origin,))[0][0])


def of_this_log(case_no_sql: str, log_id: int) -> str:
    """SQL true for a case number (`case_no_sql`) of log `log_id`, or of no log at all: what
    one log's verification checks of the tables that are not a log's (vault keys and
    openings), so that the cases of the other logs are theirs to check while a row of no log
    is still seen by each. A case number carries its log in its high bits (schema v4)."""
    log = f"({case_no_sql} >> {ENTRY_BITS})"
    return (f"({log} = {log_id} OR ({log} <> {LOG_ONE} AND {log} NOT IN "
            f"(SELECT log_id FROM logs)))")
