"""Migration 1 -> 2: a log id in every log table, interior nodes keyed in creation order.

For each log family (`cases`, `access`): create the version-2 tables beside the old ones
(`<prefix>_leaves_v2`, ...), copy leaves and nodes a range of leaf indices per transaction (the
nodes a range's leaves complete go with them, so the new node B-tree is filled at its right
edge, as appends fill it), copy checkpoints and attestations, then in one transaction drop the
old tables, give the new ones their names and build the leaves' (id, version) index (from
sorted keys, after the copy: keeping it up to date row by row costs three times the copy).
Rows are copied by SQL, byte for byte: no entry,
hash or note is read into Python, let alone re-serialised.
"""

from __future__ import annotations

import os
from typing import Any

from ledger.store.migrations.database import Database
from ledger.store.migrations.plan import Batch, Step
from ledger.store.migrations.v1 import LOG_TABLES, Dialect
from ledger.store.migrations.v2 import LOG_ONE, NODE_KEY_SQL, leaves_index_ddl, log_tables_ddl

BATCH = 1 << 14  # leaves per transaction: ~1/3 s of work, a few MB of WAL
BATCH_KEY = "TEMOIN_MIGRATE_BATCH"  # another batch size (tests make more, smaller batches)


class LogIds:
    source = 1
    target = 2
    summary = "log id in every log table; interior nodes keyed in creation order"

    def survey(self, db: Database) -> dict[str, Any]:
        tables = db.table_names()
        logs = []
        for prefix in sorted(t[: -len("_nodes")] for t in tables if t.endswith("_nodes")):
            size = db.query(f"SELECT COALESCE(MAX(idx), -1) + 1 FROM {prefix}_leaves")[0][0]
            top = db.query(f"SELECT COALESCE(MAX(level), 0) FROM {prefix}_nodes")[0][0]
            logs.append({"prefix": prefix, "size": int(size), "top": int(top)})
        # Recorded with the survey: a rerun must cut the very same batches.
        return {"logs": logs, "batch": int(os.environ.get(BATCH_KEY, BATCH))}

    def plan(self, survey: dict[str, Any], dialect: Dialect) -> list[Step]:
        steps: list[Step] = []
        for log in survey["logs"]:
            steps += _log_steps(log["prefix"], log["size"], log["top"], survey["batch"],
                                dialect)
        return steps


def _log_steps(prefix: str, size: int, top: int, batch: int, dialect: Dialect) -> list[Step]:
    create = Batch(tuple((ddl, ()) for ddl in log_tables_ddl(prefix, dialect, "_v2")))
    copies = [_range_batch(prefix, a, min(a + batch, size), a + batch >= size, top)
              for a in range(0, size, batch)] or [_range_batch(prefix, 0, 0, True, top)]
    small = Batch((
        (f"INSERT INTO {prefix}_checkpoints_v2 (log_id, size, root, note, signed_at) "
         f"SELECT {LOG_ONE}, size, root, note, signed_at FROM {prefix}_checkpoints "
         f"ORDER BY size", ()),
        (f"INSERT INTO {prefix}_attestations_v2 (log_id, size, kind, signer, body, obtained_at) "
         f"SELECT {LOG_ONE}, size, kind, signer, body, obtained_at FROM {prefix}_attestations "
         f"ORDER BY size, kind, signer", ()),
    ))
    return [
        Step(f"{prefix}: create the version-2 tables", (create,)),
        Step(f"{prefix}: copy {size:,} leaves and their interior nodes", tuple(copies)),
        Step(f"{prefix}: copy checkpoints and attestations", (small,)),
        Step(f"{prefix}: replace the version-1 tables", (_swap(prefix, size, dialect),)),
    ]


def _range_batch(prefix: str, a: int, b: int, last: bool, top: int) -> Batch:
    """Leaves [a, b) and the nodes they complete: node (level, idx) is completed by leaf
    ((idx + 1) << level) - 1, so its idx is in [a >> level, b >> level). The last batch takes
    every node left, also any that no leaf completes: they are copied, not judged
    (`temoin verify` reports them, before and after)."""
    statements: list[tuple[str, tuple[Any, ...]]] = [(
        f"INSERT INTO {prefix}_leaves_v2 (log_id, idx, hash, originator_id, originator_version) "
        f"SELECT {LOG_ONE}, idx, hash, originator_id, originator_version FROM {prefix}_leaves "
        + ("WHERE idx >= ? ORDER BY idx" if last else "WHERE idx >= ? AND idx < ? ORDER BY idx"),
        (a,) if last else (a, b),
    )]
    for level in range(1, top + 1):
        lo, hi = a >> level, b >> level
        if lo == hi and not last:
            continue
        where = "level = ? AND idx >= ?" + ("" if last else " AND idx < ?")
        statements.append((
            f"INSERT INTO {prefix}_nodes_v2 (log_id, key, hash) "
            f"SELECT {LOG_ONE}, {NODE_KEY_SQL}, hash FROM {prefix}_nodes WHERE {where} "
            f"ORDER BY idx",
            (level, lo) if last else (level, lo, hi),
        ))
    return Batch(tuple(statements), entries=b - a)


def _swap(prefix: str, size: int, dialect: Dialect) -> Batch:
    """Copy what a Témoin process still running the old release appended since the survey
    (nothing, if every process was stopped as told), then drop and rename: no entry can be
    left behind in a dropped table. The transaction holds the writers' lock (SQLite: BEGIN
    IMMEDIATE; PostgreSQL: the events table's EXCLUSIVE lock that every append takes), and
    once it commits such a process's next append fails on the new tables."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if dialect == "postgres":
        statements.append((f"LOCK TABLE {prefix}_events IN EXCLUSIVE MODE", ()))
    statements.append((
        f"INSERT INTO {prefix}_leaves_v2 (log_id, idx, hash, originator_id, originator_version) "
        f"SELECT {LOG_ONE}, idx, hash, originator_id, originator_version FROM {prefix}_leaves "
        f"WHERE idx >= ? ON CONFLICT DO NOTHING", (size,)))
    statements += [(
        f"INSERT INTO {prefix}_nodes_v2 (log_id, key, hash) SELECT {LOG_ONE}, {NODE_KEY_SQL}, "
        f"hash FROM {prefix}_nodes WHERE level = ? AND idx >= ? ON CONFLICT DO NOTHING",
        (level, size >> level)) for level in range(1, 63)]
    statements += [
        (f"INSERT INTO {prefix}_checkpoints_v2 (log_id, size, root, note, signed_at) "
         f"SELECT {LOG_ONE}, size, root, note, signed_at FROM {prefix}_checkpoints "
         f"WHERE size >= 0 ON CONFLICT DO NOTHING", ()),
        (f"INSERT INTO {prefix}_attestations_v2 (log_id, size, kind, signer, body, obtained_at) "
         f"SELECT {LOG_ONE}, size, kind, signer, body, obtained_at FROM {prefix}_attestations "
         f"WHERE size >= 0 ON CONFLICT DO NOTHING", ()),
    ]
    statements += [(f"DROP TABLE {prefix}_{name}", ()) for name in LOG_TABLES]
    statements += [(f"ALTER TABLE {prefix}_{name}_v2 RENAME TO {prefix}_{name}", ())
                   for name in LOG_TABLES]
    if dialect == "postgres":
        # PostgreSQL names constraints after the table they were made on: give them the names
        # a database created at version 2 has.
        statements += [
            (f"ALTER TABLE {prefix}_{name} RENAME CONSTRAINT {prefix}_{name}_v2_pkey "
             f"TO {prefix}_{name}_pkey", ())
            for name in LOG_TABLES
        ]
    statements.append((leaves_index_ddl(prefix), ()))
    return Batch(tuple(statements))
