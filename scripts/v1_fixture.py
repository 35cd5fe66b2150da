"""Schema-version-1 and -2 databases made by this code, for migration tests and benchmarks.

The entries, leaves, nodes, checkpoints and attestations are the ones this release writes
(real appends through `Ledger`, real signed checkpoints, both logs). `downgrade_to_v2` rewrites
log 1's projection tables into the frozen version-2 layout (`migrations.v2.PROJECTION_DDL`);
`downgrade_to_v1` does that, then rewrites the log tables into the frozen version-1 layout
(`ledger.store.migrations.v1`) and drops the version table. Every other table is the same in
versions 1, 2 and 3, so the result is the database the earlier release would have made from
the same appends.
"""

from __future__ import annotations

from pathlib import Path

from ledger.config import Settings
from ledger.store.migrations.database import Database
from ledger.store.migrations.v1 import LOG_TABLES, log_tables_ddl
from ledger.store.migrations.v2 import PROJECTION_DDL as V2_PROJECTION_DDL
from ledger.store.migrations.v3 import PROJECTION_TABLES

# Version-1 columns of each log table, as SQL over the version-2 columns.
_V1_COLUMNS = {
    "leaves": "idx, hash, originator_id, originator_version",
    "nodes": "(key & 63) AS level, ((key >> 6) >> CAST(key & 63 AS INTEGER)) - 1 AS idx, hash",
    "checkpoints": "size, root, note, signed_at",
    "attestations": "size, kind, signer, body, obtained_at",
}
_V1_ORDER = {"leaves": "idx", "nodes": "idx", "checkpoints": "size",
             "attestations": "size, kind, signer"}


def fill(settings: Settings, entries: int, batch: int = 2500, checkpoints: int = 12) -> None:
    """Append `entries` case entries (cases of ten events), sign checkpoints along the way,
    add an attestation, and journal a few reads in the access log."""
    from datetime import UTC, datetime

    from ledger.access import AccessJournal
    from ledger.events.examples import EXAMPLES
    from ledger.events.validate import validate_append
    from ledger.ledger import AppendRequest, Ledger
    from ledger.store.attestations import Attestation

    types = [t for t, ex in EXAMPLES.items() if not ex.get("evidence")][:10]
    now = datetime.now(UTC)
    bodies = {}
    for t in types:
        ex = EXAMPLES[t]
        bodies[t] = validate_append(ex["type"], ex["occurred_at"], ex["data"], ex.get("personal"),
                                    ex.get("evidence"), now=now)
    ledger = Ledger(settings)
    try:
        every = max(1, entries // batch // checkpoints)
        done = 0
        while done < entries:
            n = min(batch, entries - done)
            # Ten events a case, each case's events in order across batches.
            reqs = [AppendRequest("shop-1", "key-1", f"C{(done + i) // 10}",
                                  bodies[types[(done + i) % 10]], None) for i in range(n)]
            ledger.append(reqs)
            done += n
            if (done // batch) % every == 0 or done == entries:
                signed = ledger.sign_checkpoint()
        ledger.store.store_attestation(Attestation(
            signed.size, "cosignature", "witness.example/w1", b"\xe2\x80\x94 w1 sig\n",
            "2026-01-15T12:00:00Z"))
    finally:
        ledger.close()
    journal = AccessJournal(settings)
    try:
        for i in range(40):
            journal.record(tenant="shop-1", case=f"C{i}", who="key-1", role="admin",
                           action="read_case")
            if i % 10 == 9:
                journal.sign_checkpoint()
    finally:
        journal.close()


# Version-2 columns of each projection table, as SQL over the version-3 columns (log 1's rows:
# a version-2 database held one log).
_V2_PROJECTION_COLUMNS = {
    "projection_positions": "name, position",
    "case_index": "tenant, case_id, status, entries, last_seq, opened_at, closed_at, "
                  "first_index, last_index",
    "timeline_rows": "idx, tenant, case_id, case_seq, row_json",
}


def downgrade_to_v2(url: str) -> None:
    """Rewrite the projection tables of a version-3 database made by this code into version 2,
    log 1's rows alone, and record version 2 as the newest."""
    db = Database.open(url)
    try:
        with db.transaction():
            for name in PROJECTION_TABLES:
                db.execute(f"CREATE TEMP TABLE v2_{name} AS SELECT "
                           f"{_V2_PROJECTION_COLUMNS[name]} FROM {name} WHERE log_id = 1")
                db.execute(f"DROP TABLE {name}")
            for ddl in V2_PROJECTION_DDL:
                db.execute(ddl)
            for name in PROJECTION_TABLES:
                db.execute(f"INSERT INTO {name} SELECT * FROM v2_{name}")
                db.execute(f"DROP TABLE v2_{name}")
            db.execute("DELETE FROM schema_version WHERE version > 2")
            db.execute("INSERT INTO schema_version (version, applied_at) VALUES (2, 'fixture') "
                       "ON CONFLICT (version) DO NOTHING")
    finally:
        db.close()


def downgrade_to_v1(url: str) -> None:
    """Rewrite a version-3 database made by this code into version 1 (through version 2)."""
    downgrade_to_v2(url)
    db = Database.open(url)
    try:
        prefixes = sorted(t[: -len("_nodes")] for t in db.table_names() if t.endswith("_nodes"))
        with db.transaction():
            for prefix in prefixes:
                for name in LOG_TABLES:
                    db.execute(f"CREATE TEMP TABLE v1_{prefix}_{name} AS SELECT "
                               f"{_V1_COLUMNS[name]} FROM {prefix}_{name} WHERE log_id = 1")
                    db.execute(f"DROP TABLE {prefix}_{name}")
                for ddl in log_tables_ddl(prefix, db.dialect):
                    db.execute(ddl)
                for name in LOG_TABLES:
                    db.execute(f"INSERT INTO {prefix}_{name} SELECT * FROM v1_{prefix}_{name} "
                               f"ORDER BY {_V1_ORDER[name]}")
                    db.execute(f"DROP TABLE v1_{prefix}_{name}")
            db.execute("DROP TABLE schema_version")
    finally:
        db.close()


def make_v1(database_url: str, data_dir: Path, entries: int) -> Settings:
    settings = Settings(database_url=database_url, data_dir=data_dir, origin="test.example/log")
    fill(settings, entries)
    downgrade_to_v1(database_url)
    return settings
