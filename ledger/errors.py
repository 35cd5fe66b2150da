"""Errors the ledger raises when an append breaks a rule; the API maps each to a status."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class; `str()` is a sentence for the user, `position` the event's place in a batch."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class CaseNotFoundError(LedgerError):
    """An event other than CaseOpened for a case that does not exist (404)."""


class CaseConflictError(LedgerError):
    """CaseOpened for an existing case, or anything but erasure after CaseClosed (409)."""


class SequenceConflictError(LedgerError):
    """`expected_seq` differs from the case's last `case_seq` (409)."""


class EvidenceNotFoundError(LedgerError):
    """An event names an evidence file this tenant never uploaded (422)."""


class BusyError(LedgerError):
    """Concurrent writers kept conflicting; retrying later will work (503)."""


class IdempotencyConflictError(LedgerError):
    """An Idempotency-Key reused with another request body (409)."""


class InternalAppendError(LedgerError):
    """One request of a shared commit failed for a reason that is no rule of the log (a bug,
    a broken dependency such as the vault): only that request fails (500), nothing of it is
    stored, and the server log has the traceback under `ref`."""

    def __init__(self, message: str, *, ref: str, position: int | None = None) -> None:
        super().__init__(message, position=position)
        self.ref = ref
class LegalHoldError(CaseConflictError):
    """A legal hold suspends the erasure, or a hold reference does not match (409)."""
class RetentionClassError(LedgerError):
    """A retention class this deployment does not define (422)."""
