"""Runs the migrations a database needs, one batch per transaction, resuming where it stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ledger.store.migrations.database import Database
from ledger.store.migrations.m0002_log_ids import LogIds
from ledger.store.migrations.m0003_projection_logs import ProjectionLogs
from ledger.store.migrations.m0004_case_numbers import CaseNumbers
from ledger.store.migrations.plan import Migration, Step
from ledger.store.migrations.version import (
    LATEST,
    SCHEMA_VERSION_DDL,
    SchemaVersionError,
    read_state,
)

MIGRATIONS: tuple[Migration, ...] = (LogIds(), ProjectionLogs(), CaseNumbers())

Say = Callable[[str], None]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def migrate(db: Database, *, dry_run: bool = False, say: Say = print,
            progress: Say = print) -> bool:
    """Bring the database to LATEST; False when there was nothing to do. `say` gets the plan
    and the outcome, `progress` one line per committed batch."""
    state = read_state(db)
    if state.version > LATEST or (state.pending or 0) > LATEST:
        raise SchemaVersionError(max(state.version, state.pending or 0), LATEST)
    if state.version == 0:
        say(f"the database is empty: it is created at schema version {LATEST} when Témoin "
            f"first opens it; nothing to migrate")
        return False
    if state.version == LATEST and state.pending is None:
        say(f"the database is at schema version {LATEST}, the newest: nothing to migrate")
        return False
    for migration in MIGRATIONS:
        if migration.source < state.version:
            continue
        resume = state.state if state.pending == migration.target else None
        _run(db, migration, resume, dry_run, say, progress)
        state = read_state(db)
    return True


def _run(db: Database, migration: Migration, resume: str | None, dry_run: bool, say: Say,
         progress: Say) -> None:
    saved = json.loads(resume) if resume else {"survey": migration.survey(db), "done": 0}
    steps = migration.plan(saved["survey"], db.dialect)
    name = f"schema {migration.source} -> {migration.target}"
    total = sum(s.entries for s in steps)
    batches = [(s, b) for s in steps for b in s.batches]
    done = int(saved["done"])
    verb = "would run" if dry_run else ("resuming" if resume else "running")
    already = f", {done} transactions already done" if done else ""
    say(f"{verb} migration {name} ({migration.summary}): {len(steps)} steps, {len(batches)} "
        f"transactions, {total:,} entries{already}")
    if dry_run:
        for step in steps:
            say(f"  {step.label} ({len(step.batches)} transaction(s))")
        return
    if not resume:
        with db.transaction():
            db.execute(SCHEMA_VERSION_DDL)
            db.execute(
                "INSERT INTO schema_version (version, applied_at, state) VALUES (?, ?, NULL) "
                "ON CONFLICT (version) DO NOTHING",
                (migration.source, "before schema versions"),
            )
            db.execute(
                "INSERT INTO schema_version (version, applied_at, state) VALUES (?, NULL, ?)",
                (migration.target, json.dumps(saved)),
            )
    entries = sum(b.entries for _, b in batches[:done])
    started, first = time.monotonic(), entries
    current: Step | None = None
    for k in range(done, len(batches)):
        step, batch = batches[k]
        if step is not current:
            current = step
            progress(f"{name}: {step.label}")
        last = k == len(batches) - 1
        with db.transaction():
            for sql, params in batch.statements:
                db.execute(sql, params)
            db.execute(
                "UPDATE schema_version SET state = ?, applied_at = ? WHERE version = ?",
                (None if last else json.dumps({**saved, "done": k + 1}),
                 _now() if last else None, migration.target),
            )
        if batch.entries:
            entries += batch.entries
            rate = (entries - first) / max(time.monotonic() - started, 1e-9)
            progress(f"{name}: {entries:,}/{total:,} entries ({rate:,.0f} entries/s)")
    elapsed = time.monotonic() - started
    say(f"migrated to schema version {migration.target}: {total:,} entries in {elapsed:.1f} s")
