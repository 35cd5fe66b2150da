"""Schema version 4: keys that grow with time in the hot B-trees; the events carry their leaf.

Version 2's layout (log id first in every log table's key, interior nodes keyed in creation
order) with issue 14 item 2 done:

- **Entry key.** `<p>_events` is our own table, keyed by `entry = (log_id << 40) | leaf index`
  (`entry_key`): the events of a log are stored in log order, an append writes at the right
  edge, and an event's leaf is its key (no second (case, version) index on the leaves).
  SQLite: `entry INTEGER PRIMARY KEY`, a rowid alias (kept by VACUUM, unlike a bare rowid).
- **Case number.** `<p>_cases (case_id, case_no)` is the one B-tree still keyed by the random
  case uuid, one row per case. `case_no` is the entry key of the case's first event, so it is
  unique across logs, grows with time within one, and needs no counter (the log's writer lock
  already orders the leaf indices). The events' (case_no, originator_version) key, the vault
  keys (case_no) and the sealed openings (case_no, case_seq, field) then take new cases at
  their right edge.
- The case uuid stays the identity: `<p>_cases.case_id` and `<p>_events.originator_id` (kept:
  the first event of a case names it, which the vault's readers use to turn a case number back
  into its id, and a verifier reads it with the entry). The leaves keep the (id, version) they
  were appended for, without an index: `temoin verify` still names the event a leaf wants
  when that event row is gone.

Frozen once released, like `v1` and `v2`: a later layout is a new module and a new migration.
"""

from __future__ import annotations

from ledger.store.migrations.v1 import Dialect

ENTRY_BITS = 40  # leaf indices below 2**40 per log; the log id above them
ENTRY_MASK = (1 << ENTRY_BITS) - 1


def entry_key(log_id: int, idx: int) -> int:
    return (log_id << ENTRY_BITS) | idx


def log_range(log_id: int) -> tuple[int, int]:
    """The entry keys (and case numbers) of one log: [lo, hi)."""
    return log_id << ENTRY_BITS, (log_id + 1) << ENTRY_BITS


def _types(dialect: Dialect) -> tuple[str, str, str, str]:
    if dialect == "sqlite":
        return "BLOB", "INTEGER", "TEXT", " WITHOUT ROWID"
    return "bytea", "bigint", "uuid", ""


def cases_ddl(prefix: str, dialect: Dialect) -> str:
    _, bigint, oid, keyed = _types(dialect)
    return (f"CREATE TABLE IF NOT EXISTS {prefix}_cases (case_id {oid} NOT NULL, "
            f"case_no {bigint} NOT NULL, PRIMARY KEY (case_id)){keyed}")


def events_ddl(prefix: str, dialect: Dialect, suffix: str = "") -> str:
    """The events table (`suffix`: the copy a migration fills, without its case index)."""
    blob, bigint, oid, _ = _types(dialect)
    entry = "entry INTEGER PRIMARY KEY" if dialect == "sqlite" else "entry bigint PRIMARY KEY"
    return (f"CREATE TABLE IF NOT EXISTS {prefix}_events{suffix} ({entry}, "
            f"case_no {bigint} NOT NULL, originator_id {oid} NOT NULL, "
            f"originator_version {bigint} NOT NULL, topic TEXT NOT NULL, state {blob} NOT NULL)")


def log_tables_ddl(prefix: str, dialect: Dialect) -> list[str]:
    """One log family's tables and indexes."""
    blob, bigint, oid, keyed = _types(dialect)
    return [
        cases_ddl(prefix, dialect),
        events_ddl(prefix, dialect),
        events_index_ddl(prefix),
        f"CREATE TABLE IF NOT EXISTS {prefix}_leaves (log_id INTEGER NOT NULL, "
        f"idx {bigint} NOT NULL, hash {blob} NOT NULL, originator_id {oid} NOT NULL, "
        f"originator_version {bigint} NOT NULL, PRIMARY KEY (log_id, idx)){keyed}",
        f"CREATE TABLE IF NOT EXISTS {prefix}_nodes (log_id INTEGER NOT NULL, "
        f"key {bigint} NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (log_id, key)){keyed}",
        f"CREATE TABLE IF NOT EXISTS {prefix}_checkpoints (log_id INTEGER NOT NULL, "
        f"size {bigint} NOT NULL, root {blob} NOT NULL, note TEXT NOT NULL, "
        f"signed_at TEXT NOT NULL, PRIMARY KEY (log_id, size)){keyed}",
        # Not WITHOUT ROWID: a DER time-stamp token is kilobytes, too big for a key B-tree cell.
        f"CREATE TABLE IF NOT EXISTS {prefix}_attestations (log_id INTEGER NOT NULL, "
        f"size {bigint} NOT NULL, kind TEXT NOT NULL, signer TEXT NOT NULL, "
        f"body {blob} NOT NULL, obtained_at TEXT NOT NULL, "
        f"PRIMARY KEY (log_id, size, kind, signer))",
    ]


def events_index_ddl(prefix: str) -> str:
    """A case's events by version (reads of one case, and the optimistic-concurrency key: a
    second writer of the same version fails on it). Its own statement so that a migration
    builds it once, after the copy."""
    return (f"CREATE UNIQUE INDEX IF NOT EXISTS {prefix}_events_case "
            f"ON {prefix}_events (case_no, originator_version)")


def vault_ddl(dialect: Dialect, suffix: str = "") -> list[str]:
    """The vault (shared by the logs of the database), keyed by case number."""
    blob, bigint, _, keyed = _types(dialect)
    return [
        f"CREATE TABLE IF NOT EXISTS vault_keys{suffix} (case_no {bigint} PRIMARY KEY, "
        f"wrapped {blob} NOT NULL){keyed}",
        f"CREATE TABLE IF NOT EXISTS vault_openings{suffix} (case_no {bigint} NOT NULL, "
        f"case_seq {bigint} NOT NULL, field TEXT NOT NULL, sealed {blob} NOT NULL, "
        f"PRIMARY KEY (case_no, case_seq, field)){keyed}",
    ]
