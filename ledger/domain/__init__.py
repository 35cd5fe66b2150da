"""The dispute case: the ledger's own `CaseState`, and the eventsourcing aggregate whose
events are log entries."""

from ledger.domain.case import (
    CASE_TOPIC,
    Case,
    CaseEvent,
    case_uuid,
    event_class,
    next_event,
    open_case,
)
from ledger.domain.case_state import (
    CaseClosedError,
    CaseExistsError,
    CaseState,
    ErasedError,
    HoldError,
)

__all__ = [
    "CASE_TOPIC",
    "Case",
    "CaseClosedError",
    "CaseEvent",
    "CaseExistsError",
    "CaseState",
    "ErasedError",
    "HoldError",
    "case_uuid",
    "event_class",
    "next_event",
    "open_case",
]
