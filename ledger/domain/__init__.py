"""The dispute case as an eventsourcing aggregate whose events are log entries."""

from ledger.domain.case import (
    Case,
    CaseClosedError,
    CaseEvent,
    CaseExistsError,
    ErasedError,
    HoldError,
    case_uuid,
    event_class,
)

__all__ = [
    "Case",
    "CaseClosedError",
    "CaseEvent",
    "CaseExistsError",
    "ErasedError",
    "HoldError",
    "case_uuid",
    "event_class",
]
