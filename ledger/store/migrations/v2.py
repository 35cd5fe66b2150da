"""Schema version 2: the log tables with a log id, interior nodes keyed in creation order.

- Every log table starts its key with `log_id` (the log of the release before is log 1), so
  several logs can share one database.
- An interior node is keyed by one integer, `node_key(level, idx)`: the order in which appends
  create nodes. An append then writes only at the right edge of the nodes B-tree (one or two
  pages), where the (level, idx) key of version 1 touched one page per level.

Frozen once released, like `v1`: a later layout is a new module and a new migration.
"""

from __future__ import annotations

from ledger.store.migrations.v1 import Dialect

LOG_ONE = 1  # the id of the log a version-1 database holds


def node_key(level: int, idx: int) -> int:
    """Node (level, idx) is completed by leaf ((idx + 1) << level) - 1: sort by that, then level."""
    return (((idx + 1) << level) << 6) | level


def node_of_key(key: int) -> tuple[int, int]:
    level = key & 63
    return level, ((key >> 6) >> level) - 1


# The same as SQL over v1 columns (shifts and | are portable between SQLite and PostgreSQL).
NODE_KEY_SQL = "((((idx + 1) << level) << 6) | level)"


def leaves_index_ddl(prefix: str) -> str:
    """The leaf of an event (the join from events to leaves). Its own statement, not a UNIQUE
    clause: a migration builds it once the leaves are copied, from sorted keys, several times
    faster than keeping it up to date row by row in random id order."""
    return (f"CREATE UNIQUE INDEX IF NOT EXISTS {prefix}_leaves_entry "
            f"ON {prefix}_leaves (originator_id, originator_version)")


def log_tables_ddl(prefix: str, dialect: Dialect, suffix: str = "") -> list[str]:
    """CREATE statements of one log family's tables and indexes; `suffix` names the copies a
    migration fills (without the leaves' index) before they replace the version-1 tables."""
    if dialect == "sqlite":
        blob, bigint, oid, keyed = "BLOB", "INTEGER", "TEXT", " WITHOUT ROWID"
    else:
        blob, bigint, oid, keyed = "bytea", "bigint", "uuid", ""
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}_leaves{suffix} (log_id INTEGER NOT NULL, "
        f"idx {bigint} NOT NULL, hash {blob} NOT NULL, originator_id {oid} NOT NULL, "
        f"originator_version {bigint} NOT NULL, PRIMARY KEY (log_id, idx)){keyed}",
        f"CREATE TABLE IF NOT EXISTS {prefix}_nodes{suffix} (log_id INTEGER NOT NULL, "
        f"key {bigint} NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (log_id, key)){keyed}",
        f"CREATE TABLE IF NOT EXISTS {prefix}_checkpoints{suffix} (log_id INTEGER NOT NULL, "
        f"size {bigint} NOT NULL, root {blob} NOT NULL, note TEXT NOT NULL, "
        f"signed_at TEXT NOT NULL, PRIMARY KEY (log_id, size)){keyed}",
        # Not WITHOUT ROWID: a DER time-stamp token is kilobytes, too big for a key B-tree cell.
        f"CREATE TABLE IF NOT EXISTS {prefix}_attestations{suffix} (log_id INTEGER NOT NULL, "
        f"size {bigint} NOT NULL, kind TEXT NOT NULL, signer TEXT NOT NULL, "
        f"body {blob} NOT NULL, obtained_at TEXT NOT NULL, "
        f"PRIMARY KEY (log_id, size, kind, signer))",
        *([] if suffix else [leaves_index_ddl(prefix)]),
    ]


# The projection tables of versions 1 and 2 (the store created them, unversioned, until version
# 3 made them per log): written down here when version 3 replaced them, the very text the store
# ran, so that tests can build version-2 databases.
PROJECTION_DDL = [
    "CREATE TABLE IF NOT EXISTS projection_positions (name TEXT PRIMARY KEY, "
    "position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS case_index (tenant TEXT NOT NULL, case_id TEXT NOT NULL, "
    "status TEXT, entries BIGINT NOT NULL, last_seq BIGINT NOT NULL, opened_at TEXT, "
    "closed_at TEXT, first_index BIGINT NOT NULL, last_index BIGINT NOT NULL, "
    "PRIMARY KEY (tenant, case_id))",
    "CREATE TABLE IF NOT EXISTS timeline_rows (idx BIGINT PRIMARY KEY, tenant TEXT NOT NULL, "
    "case_id TEXT NOT NULL, case_seq BIGINT NOT NULL, row_json TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS timeline_rows_case ON timeline_rows (tenant, case_id, idx)",
]
