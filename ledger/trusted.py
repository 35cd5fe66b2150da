"""Comparing the stored log with checkpoints kept outside the database.

A checkpoint obtained elsewhere — the signer state file, a bundle's checkpoint.txt, a witness's
or a lawyer's copy, a monitor's state — is a tree head the log's key signed. The stored log must
extend it: its root at that size must be the signed root, and it must hold at least that many
entries. `temoin verify` runs these checks (ledger/audit.py only compares the log with
checkpoints stored in the same database, which an attacker of the database can delete).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.checkpoint import Checkpoint, CheckpointError
from ledger.errors import StoreError, ValidationError
from ledger.signing import MAX_NOTE_SIZE, Verifier, verify_checkpoint
from ledger.store.protocols import LogReader


class TrustedInputError(ValidationError, ValueError):
    """A --trusted file is not a checkpoint signed by this log's key (bad input, exit 2)."""


@dataclass(frozen=True, slots=True)
class Trusted:
    label: str  # where it came from: a file name
    checkpoint: Checkpoint


def read_trusted(path: Path, verifiers: list[Verifier]) -> Trusted:
    """Read a signed checkpoint note and verify it with one of the logs' keys."""
    try:
        with path.open("rb") as f:
            note = f.read(MAX_NOTE_SIZE + 1)
    except OSError as exc:
        raise TrustedInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(note) > MAX_NOTE_SIZE:
        raise TrustedInputError(
            f"{path}: expected a signed checkpoint (a few hundred bytes), found more than "
            f"{MAX_NOTE_SIZE:,} bytes"
        )
    errors = []
    for verifier in verifiers:
        try:
            return Trusted(str(path), verify_checkpoint(note, verifier))
        except CheckpointError as exc:
            errors.append(f"{verifier.name}: {exc}")
    raise TrustedInputError(
        f"{path}: not a checkpoint signed by this log's key ({'; '.join(errors)}); pass a "
        "checkpoint note (e.g. checkpoint.txt from a bundle) of this log"
    )


def compare(
    store: LogReader, trusted: Checkpoint, label: str, size: int | None = None
) -> str | None:
    """None if the stored log extends `trusted`, else one anomaly line naming size and roots.

    `size` is the stored tree size to compare with (read once by the caller); default now.
    """
    size = store.tree_size() if size is None else size
    signed = f"signed root {trusted.root.hex()}"
    if size < trusted.size:
        return (
            f"{label} size {trusted.size}: the stored log holds only {size:,} entries but the "
            f"key signed size {trusted.size}, {signed}: the log was rolled back"
        )
    try:
        found = store.root(trusted.size)
    except StoreError as exc:
        return f"{label} size {trusted.size}: {signed}, but the stored tree has no root: {exc}"
    if found != trusted.root:
        return (
            f"{label} size {trusted.size}: {signed}, but the stored tree's root at size "
            f"{trusted.size} is {found.hex()}: the log was rewritten (a fork)"
        )
    return None
