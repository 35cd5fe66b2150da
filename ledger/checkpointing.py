"""Signing a log's current tree head: shared by the case log and the access journal."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.checkpoint import Checkpoint
from ledger.signing import LogKey, sign_checkpoint
from ledger.store.base import MerkleStore, StoredCheckpoint


def sign_if_grown(store: MerkleStore, key: LogKey, origin: str) -> StoredCheckpoint:
    """Sign the current tree head unless the latest checkpoint already covers it.

    Callers serialise calls within a process; across processes the checkpoint's size is its
    primary key and Ed25519 is deterministic, so two signers of one size store one row.
    """
    size = store.tree_size()
    latest = store.latest_checkpoint()
    if latest is not None and latest.size >= size:
        return latest
    root = store.root(size)
    note = sign_checkpoint(key, Checkpoint(origin, size, root))
    signed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store.store_checkpoint(size, root, note, signed_at)
    stored = store.checkpoint(size)
    assert stored is not None
    return stored
