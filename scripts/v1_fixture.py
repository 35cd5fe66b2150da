"""A schema-version-1 database made by this code, for migration tests and benchmarks.

The entries, leaves, nodes, checkpoints and attestations are the ones this release writes
(real appends through `Ledger`, real signed checkpoints, both logs); then the log tables are
rewritten into the frozen version-1 layout (`ledger.store.migrations.v1`) and the version table
is dropped. Every other table is the same in versions 1 and 2, so the result is the database
the release before schema versions would have made from the same appends.
"""

from __future__ import annotations

from pathlib import Path

from ledger.config import Settings
from ledger.store.migrations.database import Database
from ledger.store.migrations.v1 import LOG_TABLES, log_tables_ddl

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


def downgrade_to_v1(url: str) -> None:
    """Rewrite the log tables of a version-2 database made by this code into version 1."""
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
