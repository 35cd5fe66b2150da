"""Schema version 3: the read-side projections per log.

Version 2 keyed the projection tables (case index, timeline rows, positions) as if the database
held one log: `timeline_rows` by leaf index alone, one position per projection name. Several
logs (issue 14 "Many logs") each project their own leaves, so in version 3:

- `timeline_rows` is keyed `(log_id, idx)`: leaf index 0 of log 2 is not leaf 0 of log 1;
- `case_index` carries its log's id; its key stays `(tenant, case_id)`, because a tenant
  belongs to exactly one log for good (ledger/logs.py), so a case is in one log's index only;
- `projection_positions` is keyed `(log_id, name)`: each log's runner has its own position.

The log tables are version 2's, unchanged (imported from `v2`). Frozen once released, like
`v1` and `v2`: a later layout is a new module and a new migration.
"""

from __future__ import annotations

from ledger.store.migrations.v1 import Dialect
from ledger.store.migrations.v2 import (  # what version 3 keeps of version 2
    LOG_ONE,
    NODE_KEY_SQL,
    leaves_index_ddl,
    log_tables_ddl,
    node_key,
    node_of_key,
)

__all__ = [
    "LOG_ONE", "NODE_KEY_SQL", "PROJECTION_DDL", "PROJECTION_TABLES", "events_ddl",
    "leaves_index_ddl", "log_tables_ddl", "node_key", "node_of_key", "vault_ddl",
]

# The projection tables, in the order migration 2 -> 3 drops them.
PROJECTION_TABLES = ("projection_positions", "case_index", "timeline_rows")

# The same statements on both backends (BIGINT is SQLite's INTEGER affinity). Rowid tables
# (not WITHOUT ROWID) for the case index and timeline rows, as in version 2: a timeline row's
# JSON may be too big for a key B-tree cell.
PROJECTION_DDL = [
    "CREATE TABLE IF NOT EXISTS projection_positions (log_id INTEGER NOT NULL, "
    "name TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (log_id, name))",
    "CREATE TABLE IF NOT EXISTS case_index (log_id INTEGER NOT NULL, tenant TEXT NOT NULL, "
    "case_id TEXT NOT NULL, status TEXT, entries BIGINT NOT NULL, last_seq BIGINT NOT NULL, "
    "opened_at TEXT, closed_at TEXT, first_index BIGINT NOT NULL, "
    "last_index BIGINT NOT NULL, PRIMARY KEY (tenant, case_id))",
    "CREATE TABLE IF NOT EXISTS timeline_rows (log_id INTEGER NOT NULL, idx BIGINT NOT NULL, "
    "tenant TEXT NOT NULL, case_id TEXT NOT NULL, case_seq BIGINT NOT NULL, "
    "row_json TEXT NOT NULL, PRIMARY KEY (log_id, idx))",
    "CREATE INDEX IF NOT EXISTS timeline_rows_case ON timeline_rows (tenant, case_id, idx)",
]


# The events and vault tables of versions 1 to 3 (eventsourcing's events table, the vault keyed
# by case id), written down here when version 4 replaced them: the very text eventsourcing
# 9.5 and the store ran, so that tests can build version-3 databases.
def events_ddl(prefix: str, dialect: Dialect) -> list[str]:
    if dialect == "sqlite":
        return [f"CREATE TABLE IF NOT EXISTS {prefix}_events (originator_id TEXT, "
                f"originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY "
                f"(originator_id, originator_version))"]
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}_events (originator_id uuid NOT NULL, "
        f"originator_version bigint NOT NULL, topic text, state bytea, "
        f"notification_id bigserial, PRIMARY KEY (originator_id, originator_version))",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {prefix}_events_notification_id_idx "
        f"ON {prefix}_events (notification_id ASC)",
    ]


def vault_ddl(dialect: Dialect) -> list[str]:
    blob, bigint, keyed = ("BLOB", "INTEGER", " WITHOUT ROWID") if dialect == "sqlite" else (
        "bytea", "bigint", "")
    return [
        f"CREATE TABLE IF NOT EXISTS vault_keys (case_id TEXT PRIMARY KEY, "
        f"wrapped {blob} NOT NULL){keyed}",
        f"CREATE TABLE IF NOT EXISTS vault_openings (case_id TEXT NOT NULL, case_seq {bigint} "
        f"NOT NULL, field TEXT NOT NULL, sealed {blob} NOT NULL, "
        f"PRIMARY KEY (case_id, case_seq, field)){keyed}",
    ]
