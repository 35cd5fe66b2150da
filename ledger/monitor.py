"""Following a remote Témoin log: each new checkpoint must extend the last one seen.

The verification is pure (`judge`): a signed note, the checkpoint seen before and a way to get a
consistency proof in; a verdict out. What the monitor saw is kept in its state folder as the
signed note itself (`DIR/checkpoint`), written atomically, so that `temoin verify --trusted
DIR/checkpoint` can later hold the log to it. A conflicting checkpoint is kept as evidence
(`DIR/fork-<size>-<time>.note`): it is a signed statement that contradicts the other one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.checkpoint import Checkpoint, CheckpointError
from ledger.errors import ConfigurationError
from ledger.merkle import ProofError, verify_consistency
from ledger.signer_state import write_state
from ledger.signing import MAX_NOTE_SIZE, Verifier, verify_checkpoint

STATE_FILE = "checkpoint"


class MonitorConfigError(ConfigurationError, ValueError):
    """The monitor cannot start: bad key, unusable state folder, wrong log (exit 2)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """`alarm` False: `checkpoint` is the new one to remember (or the same one again)."""

    alarm: bool
    line: str
    checkpoint: Checkpoint | None = None
    note: bytes = b""
    grew: bool = False


def describe(cp: Checkpoint) -> str:
    return f"size {cp.size} root {cp.root.hex()}"


def judge(
    seen: Checkpoint | None, note: bytes, verifier: Verifier,
    consistency: Callable[[int, int], Sequence[bytes]],
) -> Verdict:
    """Check a fetched note against the last checkpoint seen (None on the first run)."""
    try:
        new = verify_checkpoint(note, verifier)
    except CheckpointError as exc:
        if seen is None:
            raise MonitorConfigError(
                f"the log's checkpoint does not verify with {verifier}: {exc}; check --key "
                "(the log's verifier key, GET /v1/log/key) and the URL"
            ) from None
        return Verdict(True, f"ALARM bad signature: the checkpoint served after {describe(seen)} "
                             f"does not verify with {verifier}: {exc}")
    if seen is None:
        return Verdict(False, f"first checkpoint {describe(new)}", new, note, grew=True)
    if new.size < seen.size:
        return Verdict(True, f"ALARM rollback: saw {describe(seen)}, now served {describe(new)}",
                       new, note)
    if new.size == seen.size:
        if new.root != seen.root:
            return Verdict(True, f"ALARM fork: saw {describe(seen)}, now served {describe(new)} "
                                 "(same size, other root)", new, note)
        return Verdict(False, f"unchanged {describe(new)}", new, note)
    if seen.size > 0:
        try:
            proof = consistency(seen.size, new.size)
            verify_consistency(seen.size, new.size, seen.root, new.root, list(proof))
        except (ProofError, ValueError) as exc:
            return Verdict(True, f"ALARM fork: saw {describe(seen)}, now served {describe(new)}, "
                                 f"and the consistency proof between them fails: {exc}",
                           new, note)
    return Verdict(False, f"consistent {describe(seen)} -> {describe(new)}", new, note, grew=True)


class MonitorState:
    """The folder where the monitor remembers the last checkpoint it accepted."""

    def __init__(self, folder: Path, verifier: Verifier) -> None:
        self.folder = folder
        self.verifier = verifier
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise MonitorConfigError(f"state folder {folder}: cannot create it: {exc}") from None
        if not folder.is_dir():
            raise MonitorConfigError(f"state folder {folder}: not a folder")

    @property
    def path(self) -> Path:
        return self.folder / STATE_FILE

    def load(self) -> Checkpoint | None:
        try:
            note = self.path.read_bytes()[: MAX_NOTE_SIZE + 1]
        except FileNotFoundError:
            return None
        try:
            return verify_checkpoint(note, self.verifier)
        except CheckpointError as exc:
            raise MonitorConfigError(
                f"state {self.path}: does not verify with {self.verifier}: {exc}; it belongs "
                "to another log or was altered: use another --state folder"
            ) from None

    def save(self, note: bytes) -> None:
        write_state(self.path, note)

    def keep_evidence(self, verdict: Verdict) -> Path | None:
        """Keep the conflicting signed note beside the state: it proves the fork."""
        if not verdict.note or verdict.checkpoint is None:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.folder / f"fork-{verdict.checkpoint.size}-{stamp}.note"
        write_state(path, verdict.note)
        return path
