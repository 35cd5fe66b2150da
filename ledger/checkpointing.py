"""Signing a log's current tree head: shared by the case log and the access journal."""

from __future__ import annotations

from pathlib import Path

from ledger.signer_state import sign_guarded
from ledger.signing import LogKey
from ledger.store.base import StoredCheckpoint
from ledger.store.protocols import Log


def sign_if_grown(store: Log, key: LogKey, origin: str, state: Path) -> StoredCheckpoint:
    """Sign the current tree head unless the latest checkpoint already covers it.

    `state` is the signer state file (ledger/signer_state.py): the tree head is signed only
    once proven consistent with the last one this signer signed, else ForkError.
    Callers serialise calls within a process; across processes the state file's lock does, and
    the checkpoint's size is its primary key.
    """
    return sign_guarded(store, key, origin, state)
