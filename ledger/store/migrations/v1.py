"""Schema version 1, frozen: the log tables as the release before schema versions made them.

This is the definition of version 1 (migration 1 -> 2 reads it, tests build version-1
databases with it); it must never change. Every table not listed here (eventsourcing's
`<prefix>_events`, the vault, evidence, idempotency, API keys, projections) is the same in
versions 1 and 2.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgres"]

# The tables version 2 replaces, in the order they are copied.
LOG_TABLES = ("leaves", "nodes", "checkpoints", "attestations")


def log_tables_ddl(prefix: str, dialect: Dialect) -> list[str]:
    """CREATE statements of one log's tables (prefix "cases" or "access") in version 1."""
    if dialect == "sqlite":
        blob, bigint, oid, keyed = "BLOB", "INTEGER", "TEXT", " WITHOUT ROWID"
        leaf_key = "idx INTEGER PRIMARY KEY"
    else:
        blob, bigint, oid, keyed = "bytea", "bigint", "uuid", ""
        leaf_key = "idx bigint PRIMARY KEY"
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}_leaves ({leaf_key}, hash {blob} NOT NULL, "
        f"originator_id {oid} NOT NULL, originator_version {bigint} NOT NULL, "
        f"UNIQUE (originator_id, originator_version))",
        f"CREATE TABLE IF NOT EXISTS {prefix}_nodes (level SMALLINT NOT NULL, "
        f"idx {bigint} NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (level, idx)){keyed}",
        f"CREATE TABLE IF NOT EXISTS {prefix}_checkpoints (size {bigint} PRIMARY KEY, "
        f"root {blob} NOT NULL, note TEXT NOT NULL, signed_at TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {prefix}_attestations (size {bigint} NOT NULL, "
        f"kind TEXT NOT NULL, signer TEXT NOT NULL, body {blob} NOT NULL, "
        f"obtained_at TEXT NOT NULL, PRIMARY KEY (size, kind, signer))",
    ]
