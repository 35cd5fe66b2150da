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
from ledger.store.migrations.v3 import events_ddl as V3_EVENTS_DDL
from ledger.store.migrations.v3 import leaves_index_ddl as V3_LEAVES_INDEX
from ledger.store.migrations.v3 import vault_ddl as V3_VAULT_DDL

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


def downgrade_to_v3(url: str) -> None:
    """Rewrite the events and vault tables of a version-4 database made by this code into
    version 3 (eventsourcing's events table, rows in log order; the vault keyed by case id),
    drop the case numbers, build the leaves' (id, version) index, record version 3."""
    db = Database.open(url)
    hex_id = ("e.originator_id" if db.dialect == "sqlite"
              else "replace(e.originator_id::text, '-', '')")
    try:
        prefixes = sorted(t[: -len("_nodes")] for t in db.table_names() if t.endswith("_nodes"))
        with db.transaction():
            for prefix in prefixes:
                db.execute(f"ALTER TABLE {prefix}_events RENAME TO v4_{prefix}_events")
                db.execute(f"DROP INDEX IF EXISTS {prefix}_events_case")
                for ddl in V3_EVENTS_DDL(prefix, db.dialect):
                    db.execute(ddl)
                db.execute(f"INSERT INTO {prefix}_events (originator_id, originator_version, "
                           f"topic, state) SELECT originator_id, originator_version, topic, "
                           f"state FROM v4_{prefix}_events ORDER BY entry")
                db.execute(V3_LEAVES_INDEX(prefix))
            for name in ("vault_keys", "vault_openings"):
                db.execute(f"ALTER TABLE {name} RENAME TO v4_{name}")
            for ddl in V3_VAULT_DDL(db.dialect):
                db.execute(ddl)
            db.execute(f"INSERT INTO vault_keys SELECT {hex_id}, k.wrapped FROM v4_vault_keys k "
                       f"JOIN v4_cases_events e ON e.entry = k.case_no")
            db.execute(f"INSERT INTO vault_openings SELECT {hex_id}, o.case_seq, o.field, "
                       f"o.sealed FROM v4_vault_openings o "
                       f"JOIN v4_cases_events e ON e.entry = o.case_no")
            for table in ("v4_vault_keys", "v4_vault_openings",
                          *(f"v4_{p}_events" for p in prefixes), *(f"{p}_cases" for p in prefixes)):
                db.execute(f"DROP TABLE {table}")
            db.execute("DELETE FROM schema_version WHERE version > 3")
            db.execute("INSERT INTO schema_version (version, applied_at) VALUES (3, 'fixture') "
                       "ON CONFLICT (version) DO NOTHING")
    finally:
        db.close()


def downgrade_to_v2(url: str) -> None:
    """Rewrite the projection tables of a version-4 database made by this code into version 2
    (through version 3), log 1's rows alone, and record version 2 as the newest."""
    downgrade_to_v3(url)
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
