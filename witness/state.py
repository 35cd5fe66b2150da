"""The witness's state: per log origin, its verifier key and the latest checkpoint cosigned.

Kept by `ledger.store.witness_logs` (SQLite in the witness's data folder); this module holds
the rules. `advance()` is the spec's compare-and-set: it checks the submitted old size against
the stored size and updates size and root in one transaction, committed before the caller
answers, so two racing requests can never roll the witness back and a restart never forgets
what it cosigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ledger.checkpoint import Checkpoint
from ledger.errors import NotFoundError, VerificationError
from ledger.merkle import ProofError, verify_consistency
from ledger.signing import Verifier
from ledger.store.witness_logs import LogState, WitnessLogs

DB_NAME = "witness.db"
KEY_NAME = "witness.key"


class Refusal(VerificationError):
    """A checkpoint the witness must not cosign; `status` is the HTTP status of the spec."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size  # for 409 old-size conflicts: the witness's current size


class UnknownLogError(NotFoundError, KeyError):
    pass


class WitnessState:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_NAME
        self._logs = WitnessLogs(self.path)

    def close(self) -> None:
        self._logs.close()

    def add_log(self, origin: str, vkey: str) -> bool:
        """Trust `vkey` for `origin`; False if the origin was already known with that key."""
        return self._logs.add_log(origin, vkey)

    def log(self, origin: str) -> LogState | None:
        return self._logs.log(origin)

    def logs(self) -> list[LogState]:
        return self._logs.logs()

    def verifier(self, origin: str) -> Verifier:
        state = self.log(origin)
        if state is None:
            raise UnknownLogError(origin)
        return Verifier.parse(state.vkey)

    def advance(self, checkpoint: Checkpoint, old_size: int, proof: Sequence[bytes]) -> None:
        """Check `checkpoint` against the stored state and store it, atomically; raise Refusal
        with the spec's status otherwise. The caller has verified the log's signature."""
        if old_size > checkpoint.size:
            raise Refusal(400, f"old size {old_size} is larger than the checkpoint size "
                               f"{checkpoint.size}; send the size the witness last cosigned")

        def check(stored_size: int, stored_root: bytes | None) -> None:
            self._check(checkpoint, old_size, proof, stored_size, stored_root)

        if not self._logs.advance(checkpoint.origin, checkpoint.size, checkpoint.root, check):
            raise UnknownLogError(checkpoint.origin)

    @staticmethod
    def _check(checkpoint: Checkpoint, old_size: int, proof: Sequence[bytes], stored_size: int,
               stored_root: bytes | None) -> None:
        if old_size != stored_size:
            raise Refusal(409, f"old size {old_size} is not the size this witness last cosigned "
                               f"for {checkpoint.origin} ({stored_size}); resend from there",
                          size=stored_size)
        if old_size == checkpoint.size:
            if stored_root is not None and stored_root != checkpoint.root:
                raise Refusal(409, f"the witness cosigned size {stored_size} of "
                                   f"{checkpoint.origin} with another root hash: the log forked")
            if proof:
                raise Refusal(422, "consistency proof: expected none for equal sizes, found "
                                   f"{len(proof)} lines")
            return
        if old_size == 0:
            # Every tree extends the empty one; the parser refused proof lines for old 0.
            return
        assert stored_root is not None
        try:
            verify_consistency(old_size, checkpoint.size, stored_root, checkpoint.root, proof)
        except ProofError as exc:
            raise Refusal(422, f"consistency proof from {old_size} to {checkpoint.size} does "
                               f"not verify against the cosigned root: {exc}") from None
