"""Migration 3 -> 4: events keyed by entry, case numbers in the hot keys (`v4.py`).

For each log family (`cases`, `access`) and each of its logs, a range of leaf indices per
transaction (16,384 leaves): the cases those leaves open get their number (`<p>_cases`: the
entry key of the case's first event), the events of those leaves are copied into
`<p>_events_v4` under their entry key, and, for the case family, the vault rows of the cases
opened there are copied into `vault_keys_v4` / `vault_openings_v4` under the case number.
Leaves come in index order, so every new B-tree keyed by entry or case number fills at its
right edge, as appends fill it. Then one transaction (the writers' lock held) copies what a
forgotten process of the old release appended since the survey, drops the old tables and the
leaves' (id, version) index, renames the copies and builds the events' (case_no, version)
index from sorted keys.

Rows are copied by SQL, byte for byte: no entry, hash, note or sealed value is read into
Python. Leaves, nodes, checkpoints and attestations are not touched, so every root and proof
stays the same. An event row with no leaf, or a vault row of no case of any log, is not part of
any log (`temoin verify` reports them before the migration) and is not carried over.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

from ledger.store.migrations.database import Database
from ledger.store.migrations.plan import Batch, Step
from ledger.store.migrations.v1 import Dialect
from ledger.store.migrations.v4 import (
    ENTRY_BITS,
    cases_ddl,
    events_ddl,
    events_index_ddl,
    vault_ddl,
)
from ledger.store.migrations.version import read_state

BATCH = 1 << 14  # leaves per transaction
BATCH_KEY = "TEMOIN_MIGRATE_BATCH"  # another batch size (tests make more, smaller batches)
VAULT_FAMILY = "cases"  # the family whose cases have vault rows (the access journal has none)


class CaseNumbers:
    source = 3
    target = 4
    summary = "events keyed by entry; case numbers key the events' case index and the vault"

    def survey(self, db: Database) -> dict[str, Any]:
        tables = db.table_names()
        # A dry run on a version-1 database surveys it before 1 -> 2 gave it log ids.
        log_id = "log_id" if read_state(db).version >= 2 else "1"
        families = []
        for prefix in sorted(t[: -len("_nodes")] for t in tables if t.endswith("_nodes")):
            logs = [[int(r[0]), int(r[1])] for r in db.query(
                f"SELECT {log_id}, MAX(idx) + 1 FROM {prefix}_leaves GROUP BY {log_id} "
                f"ORDER BY 1")]
            families.append({"prefix": prefix, "logs": logs})
        # Recorded with the survey: a rerun must cut the very same batches.
        return {"families": families, "batch": int(os.environ.get(BATCH_KEY, BATCH))}

    def plan(self, survey: dict[str, Any], dialect: Dialect) -> list[Step]:
        steps: list[Step] = []
        families = survey["families"]
        vault = any(f["prefix"] == VAULT_FAMILY for f in families)
        for family in families:
            steps += _family_steps(family["prefix"], family["logs"], survey["batch"], dialect,
                                   vault and family["prefix"] == VAULT_FAMILY)
        if vault:
            steps.append(Step("vault: replace the version-3 tables", (_vault_swap(dialect),)))
        return steps


def _hex(column: str, dialect: Dialect) -> str:
    """A case id column of the log tables as the vault's version-3 key (hex text)."""
    return column if dialect == "sqlite" else f"replace({column}::text, '-', '')"


def _family_steps(prefix: str, logs: list[list[int]], batch: int, dialect: Dialect,
                  vault: bool) -> list[Step]:
    creates = [cases_ddl(prefix, dialect), events_ddl(prefix, dialect, "_v4")]
    if vault:
        creates += vault_ddl(dialect, "_v4")
    steps = [Step(f"{prefix}: create the version-4 tables",
                  (Batch(tuple((ddl, ()) for ddl in creates)),))]
    for log_id, size in logs:
        copies = [Batch(_plan_hints(dialect) + _range_statements(
                      prefix, log_id, a, min(a + batch, size), dialect, vault),
                      entries=min(a + batch, size) - a)
                  for a in range(0, size, batch)]
        steps.append(Step(f"{prefix}: log {log_id}: copy {size:,} events and number their "
                          f"cases", tuple(copies)))
    steps.append(Step(f"{prefix}: replace the version-3 events table",
                      (_swap(prefix, logs, dialect, vault),)))
    return steps


def _plan_hints(dialect: Dialect) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """PostgreSQL: a batch is a range of leaves whose rows are found by key (index probes in
    leaf order). The tables were never analysed (a log built by appends), so the planner
    would hash or merge whole tables for each batch: told not to, in this transaction."""
    if dialect == "sqlite":
        return ()
    return (("SET LOCAL enable_hashjoin = off", ()), ("SET LOCAL enable_mergejoin = off", ()),
            ("SET LOCAL enable_bitmapscan = off", ()),
            ("SET LOCAL jit = off", ()))


def _range_statements(prefix: str, log_id: int, a: int, b: int | None, dialect: Dialect,
                      vault: bool, conflict: str = "") -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The cases opened by leaves [a, b) of one log (b None: to the end), their events, and
    their vault rows. A case's number is the entry key of its version-1 leaf."""
    base = log_id << ENTRY_BITS
    where = f"l.log_id = {log_id} AND l.idx >= ?" + ("" if b is None else " AND l.idx < ?")
    bounds: tuple[Any, ...] = (a,) if b is None else (a, b)
    opened = f"{where} AND l.originator_version = 1"
    statements: list[tuple[str, tuple[Any, ...]]] = [
        (f"INSERT INTO {prefix}_cases (case_id, case_no) SELECT l.originator_id, {base} + l.idx "
         f"FROM {prefix}_leaves l WHERE {opened} ORDER BY l.idx{conflict}", bounds),
        # A case whose first event has no leaf (a damaged log) still gets a number of its
        # own: the entry key of its first event that has one.
        (f"INSERT INTO {prefix}_events_v4 (entry, case_no, originator_id, originator_version, "
         f"topic, state) SELECT {base} + l.idx, COALESCE(c.case_no, {base} + l.idx), "
         f"e.originator_id, e.originator_version, e.topic, e.state FROM {prefix}_leaves l "
         f"JOIN {prefix}_events e ON e.originator_id = l.originator_id "
         f"AND e.originator_version = l.originator_version "
         f"LEFT JOIN {prefix}_cases c ON c.case_id = l.originator_id "
         f"WHERE {where} ORDER BY l.idx{conflict}", bounds),
    ]
    if vault:
        hex_id = _hex("l.originator_id", dialect)
        statements += [
            (f"INSERT INTO vault_keys_v4 (case_no, wrapped) SELECT {base} + l.idx, k.wrapped "
             f"FROM {prefix}_leaves l JOIN vault_keys k ON k.case_id = {hex_id} "
             f"WHERE {opened} ORDER BY l.idx{conflict}", bounds),
            (f"INSERT INTO vault_openings_v4 (case_no, case_seq, field, sealed) "
             f"SELECT {base} + l.idx, o.case_seq, o.field, o.sealed FROM {prefix}_leaves l "
             f"JOIN vault_openings o ON o.case_id = {hex_id} WHERE {opened} "
             f"ORDER BY l.idx, o.case_seq, o.field{conflict}", bounds),
        ]
    return tuple(statements)


def _lock_key(prefix: str, log_id: int) -> tuple[int, int]:
    """The PostgreSQL writers' lock of one log (`ledger.store.postgres.log_lock_key`)."""
    family = zlib.crc32(prefix.encode("ascii"))
    return (family - (1 << 32) if family >= 1 << 31 else family), log_id


def _swap(prefix: str, logs: list[list[int]], dialect: Dialect, vault: bool) -> Batch:
    """Copy what a process of the old release appended since the survey (nothing, if every
    process was stopped as told), then drop and rename: no entry is left behind in a dropped
    table. The transaction holds the writers' lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: each
    log's advisory lock, which every version-3 append takes), and once it commits such a
    process's next append fails on the new tables."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if dialect == "postgres":
        statements += [(f"SELECT pg_advisory_xact_lock{_lock_key(prefix, log_id)}", ())
                       for log_id, _ in logs]
    for log_id, size in logs:
        statements += _range_statements(prefix, log_id, size, None, dialect, vault,
                                         " ON CONFLICT DO NOTHING")
        if vault:
            statements += _vault_catch_up(prefix, log_id, size, dialect)
    statements += [
        (f"DROP INDEX IF EXISTS {prefix}_leaves_entry", ()),
        (f"DROP TABLE {prefix}_events", ()),
        (f"ALTER TABLE {prefix}_events_v4 RENAME TO {prefix}_events", ()),
    ]
    if dialect == "postgres":
        # PostgreSQL names constraints after the table they were made on: give the key the
        # name a database created at version 4 has.
        statements.append((f"ALTER TABLE {prefix}_events RENAME CONSTRAINT "
                           f"{prefix}_events_v4_pkey TO {prefix}_events_pkey", ()))
    statements.append((events_index_ddl(prefix), ()))
    return Batch(tuple(statements))


def _vault_catch_up(prefix: str, log_id: int, size: int,
                    dialect: Dialect) -> list[tuple[str, tuple[Any, ...]]]:
    """The vault rows of the cases that leaves appended since the survey touched: openings
    sealed by them are added, and what an erasure among them destroyed is destroyed in the
    copy too (a copied key or opening must never outlive its erasure)."""
    touched = (f"SELECT DISTINCT c.case_no FROM {prefix}_leaves l JOIN {prefix}_cases c "
               f"ON c.case_id = l.originator_id WHERE l.log_id = {log_id} AND l.idx >= {size}")
    case_hex = _hex("x.originator_id", dialect)
    # The id of a case number: its first event (already in the copy).
    of_number = (f"(SELECT {case_hex} FROM {prefix}_events_v4 x WHERE x.entry = "
                 f"{{col}})")
    return [
        (f"DELETE FROM vault_openings_v4 WHERE case_no IN ({touched}) AND NOT EXISTS "
         f"(SELECT 1 FROM vault_openings o WHERE o.case_id = "
         f"{of_number.format(col='vault_openings_v4.case_no')} AND "
         f"o.case_seq = vault_openings_v4.case_seq AND o.field = vault_openings_v4.field)", ()),
        (f"DELETE FROM vault_keys_v4 WHERE case_no IN ({touched}) AND NOT EXISTS "
         f"(SELECT 1 FROM vault_keys k WHERE k.case_id = "
         f"{of_number.format(col='vault_keys_v4.case_no')})", ()),
        (f"INSERT INTO vault_openings_v4 (case_no, case_seq, field, sealed) "
         f"SELECT t.case_no, o.case_seq, o.field, o.sealed FROM ({touched}) t "
         f"JOIN vault_openings o ON o.case_id = {of_number.format(col='t.case_no')} "
         # WHERE: SQLite would read ON CONFLICT as a second ON of the join.
         f"WHERE 1 = 1 ON CONFLICT DO NOTHING", ()),
    ]


def _vault_swap(dialect: Dialect) -> Batch:
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("vault_keys", "vault_openings"):
        statements += [(f"DROP TABLE {name}", ()),
                       (f"ALTER TABLE {name}_v4 RENAME TO {name}", ())]
        if dialect == "postgres":
            statements.append((f"ALTER TABLE {name} RENAME CONSTRAINT {name}_v4_pkey "
                               f"TO {name}_pkey", ()))
    return Batch(tuple(statements))
