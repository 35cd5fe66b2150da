"""The one error tree of Témoin (docs/ERRORS.md).

Every error Témoin raises on purpose is a `TemoinError` of exactly one *kind*, the class a
caller switches on: not found, conflict, validation (bad input), verification (a proof,
signature or bundle that does not verify), unavailable (retry later), store (the database does
not hold what the log requires), configuration (a key or setting is missing) or internal (a
bug, or a dependency failing in a way no rule covers: 500, never the caller's to act on).
`str()` is a sentence for the user: what happened and, when the user can act, what to do. A
check that failed keeps the values it compared in `got` and `want`.

The API turns a kind into an HTTP status in one function (`api.problems.problem_for`); the
store turns database driver errors into kinds at its edge (`ledger.store.driver_errors`), so
nothing above the store knows which database runs. Specific classes (kept where callers use
them) refine a kind; several also stay a `ValueError` or `KeyError`, as callers caught them.

This module imports nothing: every layer, the pure Merkle core included, can raise from it.
"""

from __future__ import annotations

__all__ = [
    "KINDS",
    "BusyError",
    "CaseConflictError",
    "CaseNotFoundError",
    "ConfigurationError",
    "ConflictError",
    "DatabaseBusyError",
    "DatabaseUnavailableError",
    "EvidenceNotFoundError",
    "IdempotencyConflictError",
    "InternalAppendError",
    "InternalError",
    "LedgerError",
    "LegalHoldError",
    "NotFoundError",
    "RetentionClassError",
    "SequenceConflictError",
    "StatementError",
    "StoreError",
    "TemoinError",
    "UnavailableError",
    "ValidationError",
    "VerificationError",
    "WriteConflictError",
    "kind_of",
]


class TemoinError(Exception):
    """Root of the tree; `str()` says what happened and what to do.

    `got` and `want` are the values a failed check compared (None when there were none). They
    are only set when given: a subclass may set them itself before calling this."""

    got: object = None
    want: object = None

    def __init__(self, *args: object, got: object = None, want: object = None) -> None:
        super().__init__(*args)
        if got is not None:
            self.got = got
        if want is not None:
            self.want = want


# -- the kinds ---------------------------------------------------------------------------------
class NotFoundError(TemoinError):
    """What was asked for does not exist (or is not visible to the caller)."""


class ConflictError(TemoinError):
    """The request contradicts the state it would change (a case's state, a sequence number,
    a key already used); it may succeed once the caller has read the current state."""


class ValidationError(TemoinError):
    """The input is malformed or breaks a rule of the format; sending it again will not help."""


class VerificationError(TemoinError):
    """A proof, signature, time-stamp or bundle does not verify: the data is not what it
    claims to be."""


class UnavailableError(TemoinError):
    """A resource is down, busy or shutting down; nothing was stored, retrying later works."""


class StoreError(TemoinError):
    """The database does not hold what the log requires (missing node, broken head, a log that
    no longer extends its signed checkpoints): an operator must look."""


class ConfigurationError(TemoinError):
    """A key, setting or file the deployment needs is missing or unusable; the message names
    it."""


class InternalError(TemoinError):
    """A bug, or a dependency failing in a way no rule covers (a statement the database
    refuses, a vault that cannot open): the server log has the traceback; the caller can only
    report it."""


# In the order a class is placed when it has several kinds among its bases (first wins).
KINDS: tuple[type[TemoinError], ...] = (
    NotFoundError, ConflictError, ValidationError, VerificationError, UnavailableError,
    StoreError, ConfigurationError, InternalError,
)


def kind_of(exc: BaseException) -> type[TemoinError] | None:
    """The kind of `exc`: the first kind in its class's method resolution order (None for an
    error outside the tree)."""
    for cls in type(exc).__mro__:
        if cls in KINDS:
            return cls
    return None


# -- what the store raises for the database ------------------------------------------------------
class DatabaseUnavailableError(UnavailableError):
    """The database cannot be reached or failed mid-transaction (connection refused or lost,
    server restarting, no pooled connection in time). The driver's message, which can name
    hosts and users, is only in `__cause__`."""

    def __init__(self, message: str = "the database is unavailable or overloaded; nothing was "
                 "stored, retry later") -> None:
        super().__init__(message)


class DatabaseBusyError(UnavailableError):
    """The database is up, but a bounded wait ran out (a lock not granted, a statement
    cancelled by its timeout, this process's writer connection not free in time)."""

    def __init__(self, message: str = "the database is busy: a lock it needed was not granted "
                 "within the configured wait (TEMOIN_LOCK_TIMEOUT, TEMOIN_STATEMENT_TIMEOUT); "
                 "nothing was stored, retry shortly") -> None:
        super().__init__(message)


class WriteConflictError(ConflictError):
    """A write hit a unique key another writer took first (the same case's next version, an
    Idempotency-Key): nothing of it was stored; decide again on fresh state."""


class StatementError(InternalError):
    """The database refused a statement for a reason that is neither an outage nor a conflict
    (syntax, types, data that the checks let through): a bug."""

    def __init__(self, message: str = "the database refused a statement; nothing was stored. "
                 "The server log has the details") -> None:
        super().__init__(message)


# -- refusals of an append ------------------------------------------------------------------------
class LedgerError(TemoinError):
    """An append refused by a rule of the log; `position` is the event's place in a batch.
    Each subclass also has its kind."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class CaseNotFoundError(LedgerError, NotFoundError):
    """An event other than CaseOpened for a case that does not exist (404)."""


class CaseConflictError(LedgerError, ConflictError):
    """CaseOpened for an existing case, or anything but erasure after CaseClosed (409)."""


class SequenceConflictError(LedgerError, ConflictError):
    """`expected_seq` differs from the case's last `case_seq` (409)."""


class EvidenceNotFoundError(LedgerError, ValidationError):
    """An event names an evidence file this tenant never uploaded (422)."""


class BusyError(LedgerError, UnavailableError):
    """Concurrent writers kept conflicting; retrying later will work (503)."""


class IdempotencyConflictError(LedgerError, ConflictError):
    """An Idempotency-Key reused with another request body (409)."""


class InternalAppendError(LedgerError, InternalError):
    """One request of a shared commit failed for a reason that is no rule of the log (a bug,
    a broken dependency such as the vault): only that request fails (500), nothing of it is
    stored, and the server log has the traceback under `ref`."""

    def __init__(self, message: str, *, ref: str, position: int | None = None) -> None:
        super().__init__(message, position=position)
        self.ref = ref


class LegalHoldError(CaseConflictError):
    """A legal hold suspends the erasure, or a hold reference does not match (409)."""


class RetentionClassError(LedgerError, ValidationError):
    """A retention class this deployment does not define (422)."""
