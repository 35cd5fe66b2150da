"""What an attacker with write access to the database (and nothing else) can do, in raw SQL.

`rewrite_entry` is the *consistent* rewrite: the entry's bytes change, and so do its leaf hash
and every interior node above it, so the stored tree is sound in itself and only a checkpoint
kept outside the database can tell. `roll_back` is a restored backup: the last entries, their
leaves, the nodes over them and the checkpoints covering them disappear together.
"""

from __future__ import annotations

from ledger.merkle import leaf_hash, node_hash
from ledger.store.migrations.v2 import LOG_ONE, node_key, node_of_key
from ledger.store.migrations.v4 import entry_key
from tests.conftest import RawDB


def _tree_size(db: RawDB, prefix: str) -> int:
    return int(db.query(f"SELECT count(*) FROM {prefix}_leaves")[0][0])


def _node(db: RawDB, prefix: str, level: int, index: int) -> bytes:
    if level == 0:
        rows = db.query(f"SELECT hash FROM {prefix}_leaves WHERE idx = ?", (index,))
    else:
        rows = db.query(f"SELECT hash FROM {prefix}_nodes WHERE key = ?",
                        (node_key(level, index),))
    assert rows, f"no stored node {level}/{index}"
    return bytes(rows[0][0])


def rewrite_entry(db: RawDB, index: int, old: bytes, new: bytes, prefix: str = "cases") -> None:
    """Replace `old` by `new` in entry `index`, then recompute its leaf and every stored
    interior node above it; delete every stored checkpoint (they would betray the rewrite)."""
    ident = db.query(f"SELECT originator_id, originator_version FROM {prefix}_leaves "
                     f"WHERE idx = ?", (index,))[0]
    state = bytes(db.query(f"SELECT state FROM {prefix}_events WHERE originator_id = ? AND "
                           f"originator_version = ?", ident)[0][0])
    assert old in state, (old, state)
    forged = state.replace(old, new)
    db.execute(f"UPDATE {prefix}_events SET state = ? WHERE originator_id = ? AND "
               f"originator_version = ?", (forged, *ident))
    db.execute(f"UPDATE {prefix}_leaves SET hash = ? WHERE idx = ?", (leaf_hash(forged), index))
    size = _tree_size(db, prefix)
    level = 1
    # Only complete subtrees are stored: walk up while the node over `index` is complete.
    while ((index >> level) + 1) << level <= size:
        i = index >> level
        h = node_hash(_node(db, prefix, level - 1, 2 * i), _node(db, prefix, level - 1, 2 * i + 1))
        assert db.execute(f"UPDATE {prefix}_nodes SET hash = ? WHERE key = ?",
                          (h, node_key(level, i))) == 1
        level += 1
    db.execute(f"DELETE FROM {prefix}_checkpoints")


def roll_back(db: RawDB, size: int, prefix: str = "cases") -> None:
    """Leave the log as it stood at `size` leaves, as a restored older backup would."""
    for originator, version in db.query(
            f"SELECT originator_id, originator_version FROM {prefix}_leaves WHERE idx >= ?",
            (size,)):
        db.execute(f"DELETE FROM {prefix}_events WHERE originator_id = ? AND "
                   f"originator_version = ?", (originator, version))
    db.execute(f"DELETE FROM {prefix}_leaves WHERE idx >= ?", (size,))
    # The cases those entries opened (a case's number is the entry key of its first event).
    # The cases those entries opened (a case's number is the entry key of its first event),
    # and their vault rows: a backup holds none of them, and their numbers are taken again by
    # the next cases opened.
    first, end = entry_key(LOG_ONE, size), entry_key(LOG_ONE + 1, 0)
    for table in (f"{prefix}_cases", "vault_keys", "vault_openings"):
        db.execute(f"DELETE FROM {table} WHERE case_no >= ? AND case_no < ?", (first, end))
    # A stored node (level, idx) covers leaves [idx << level, (idx + 1) << level).
    for (key,) in db.query(f"SELECT key FROM {prefix}_nodes"):
        level, idx = node_of_key(key)
        if (idx + 1) << level > size:
            db.execute(f"DELETE FROM {prefix}_nodes WHERE key = ?", (key,))
    db.execute(f"DELETE FROM {prefix}_checkpoints WHERE size > ?", (size,))


# Far beyond any test's log: the entry key of an event that no append made.
FORGED_ENTRY = entry_key(LOG_ONE, 1 << 30)


def forge_event(db: RawDB, originator_id: str, version: int, topic: str, state: bytes,
                prefix: str = "cases", entry: int = FORGED_ENTRY) -> None:
    """Insert an event row no append made (no leaf): into its case's chain if the case
    exists (`originator_id` as the database takes it), else as a case of its own."""
    db.execute(
        f"INSERT INTO {prefix}_events (entry, case_no, originator_id, originator_version, "
        f"topic, state) VALUES (?, COALESCE((SELECT case_no FROM {prefix}_cases "
        f"WHERE case_id = ?), ?), ?, ?, ?, ?)",
        (entry, originator_id, entry, originator_id, version, topic, state))
