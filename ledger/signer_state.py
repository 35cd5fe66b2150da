"""The signer's memory of what it last signed, kept beside its key, outside the database.

The database alone must not be able to make the signer contradict itself. Before signing a tree
head, the signer proves that the stored tree extends the last tree head it signed, which it
keeps in a file next to its key (`data/log.key` -> `data/log.state`): the signed checkpoint note
itself, so the file is self-describing and anyone holding the verifier key can check it. If the
database is behind that tree head (a restored backup: rollback) or disagrees with it (entries
rewritten and their nodes recomputed: rewrite), nothing is signed and `ForkError` says why, with
both sizes and roots. See docs/TRUST.md for what this proves and what it does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ledger.checkpoint import Checkpoint, CheckpointError
from ledger.errors import StoreError
from ledger.merkle import ProofError, consistency_plan, verify_consistency
from ledger.signing import LogKey, _fsync_dir, sign_checkpoint, verify_checkpoint
from ledger.store.base import StoredCheckpoint
from ledger.store.protocols import Log, LogReader

__all__ = [
    "ForkError",
    "SignerStateError",
    "check_state",
    "load_state",
    "state_path",
    "write_state",
]


class SignerStateError(StoreError):
    """The signer cannot trust its state file or the database; it signs nothing."""


class ForkError(SignerStateError):
    """The stored log does not extend the last tree head this signer signed."""

    def __init__(self, origin: str, signed: Checkpoint, found_size: int,
                 found_root: bytes | None, why: str) -> None:
        self.origin = origin
        self.signed = signed
        self.found_size = found_size
        self.found_root = found_root
        self.why = why
        found = f"root {found_root.hex()}" if found_root is not None else "no root"
        super().__init__(
            f"log {origin}: {why}: the signer last signed size {signed.size} root "
            f"{signed.root.hex()}; the database gives size {found_size} {found}. Nothing was "
            "signed: see docs/TRUST.md, 'Recovering from a fork'"
        )


def state_path(key_path: Path) -> Path:
    """`data/log.key` -> `data/log.state`."""
    return key_path.with_suffix(".state")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_state(path: Path, key: LogKey) -> Checkpoint | None:
    """The checkpoint in the state file, verified with the key; None if there is no file."""
    try:
        note = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return verify_checkpoint(note, key.verifier())
    except CheckpointError as exc:
        raise SignerStateError(
            f"signer state {path}: does not verify with {key.verifier_key}: {exc}; it was "
            "altered or belongs to another log; nothing is signed until it is restored (see "
            "docs/TRUST.md)"
        ) from None


def write_state(path: Path, note: bytes) -> None:
    """Replace the state file atomically: temp file, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the mode given to os.open is filtered by the umask
            view = memoryview(note)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)  # the rename itself must survive a crash


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise read-check-sign-write across threads and processes (server workers, CLI)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_state(store: LogReader, origin: str, signed: Checkpoint, size: int) -> bytes:
    """Prove that the stored tree of `size` leaves extends `signed`; its root, or ForkError."""
    if size < signed.size:
        found = None
        with contextlib.suppress(StoreError):
            found = store.root(size)
        raise ForkError(origin, signed, size, found,
                        "the database holds fewer entries than the signer already signed "
                        "(rolled back, e.g. restored from an older copy)")
    try:
        at_signed = store.root(signed.size)
    except StoreError as exc:
        raise ForkError(origin, signed, size, None,
                        f"the stored tree cannot give its root at size {signed.size} ({exc})"
                        ) from None
    if at_signed != signed.root:
        raise ForkError(origin, signed, signed.size, at_signed,
                        f"the stored tree's root at size {signed.size} differs from the signed "
                        "one (entries rewritten)")
    root = store.root(size) if size != signed.size else at_signed
    if size > signed.size and signed.size > 0:
        try:
            proof = store.proof(consistency_plan(signed.size, size))
            verify_consistency(signed.size, size, signed.root, root, proof)
        except (ProofError, StoreError) as exc:
            raise ForkError(origin, signed, size, root,
                            f"the stored tree of size {size} is not consistent with the signed "
                            f"one ({exc})") from None
    return root


def _bootstrap(store: LogReader, key: LogKey, path: Path) -> Checkpoint | None:
    """No state file yet (first start, or first start after an upgrade): begin from the latest
    stored checkpoint that verifies with the key. The database could have been altered before
    this moment; nothing here can tell (docs/TRUST.md)."""
    latest = store.latest_checkpoint()
    if latest is None:
        return None
    try:
        cp = verify_checkpoint(latest.note, key.verifier())
    except CheckpointError as exc:
        raise SignerStateError(
            f"signer state {path}: missing, and the latest stored checkpoint (size "
            f"{latest.size}) does not verify with {key.verifier_key}: {exc}; run `temoin verify`"
        ) from None
    write_state(path, latest.note)
    return cp


def verify_against_state(store: LogReader, key: LogKey, origin: str, path: Path) -> None:
    """The cheap check the server runs while idle: does the database still extend the state?"""
    signed = load_state(path, key)
    if signed is not None:
        check_state(store, origin, signed, store.tree_size())


def sign_guarded(store: Log, key: LogKey, origin: str, path: Path) -> StoredCheckpoint:
    """Sign the current tree head if the log grew, after proving it extends the signer state.

    Returns the latest stored checkpoint when nothing grew. Across processes the state file's
    lock serialises signers, and the checkpoint's size is its primary key.
    """
    with locked(path):
        signed = load_state(path, key)
        if signed is None:
            signed = _bootstrap(store, key, path)
        size = store.tree_size()
        root = check_state(store, origin, signed, size) if signed is not None else store.root(size)
        latest = store.latest_checkpoint()
        if latest is not None and latest.size >= size and signed is not None:
            return latest
        note = sign_checkpoint(key, Checkpoint(origin, size, root))
        # The state first: once a checkpoint can be served, the signer remembers it.
        if signed is None or size > signed.size:
            write_state(path, note)
        store.store_checkpoint(size, root, note, _now())
        stored = store.checkpoint(size)
        assert stored is not None
        return stored


def reset_state(store: Log, key: LogKey, origin: str, path: Path) -> tuple[
        Path | None, StoredCheckpoint]:
    """Deliberately accept the database's current tree as the log (`temoin signer reset`).

    This FORKS the log for everyone who saw the old state: the old state file is archived
    beside it (`log.state.forked-<time>`, never deleted, it is the evidence), then the current
    tree head is signed and becomes the state. Returns (archive or None, new checkpoint).
    """
    with locked(path):
        archive: Path | None = None
        if path.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            archive = path.with_name(f"{path.name}.forked-{stamp}")
            os.link(path, archive)  # never overwrites an earlier archive
            path.unlink()
        size = store.tree_size()
        root = store.root(size)
        note = sign_checkpoint(key, Checkpoint(origin, size, root))
        write_state(path, note)
        store.store_checkpoint(size, root, note, _now())
        stored = store.checkpoint(size)
        assert stored is not None
        return archive, stored
