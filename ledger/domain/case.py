"""The `Case` aggregate (DESIGN §3).

Every domain event of a case carries exactly one thing: the verbatim bytes of its log entry.
The entry *is* the event, so what eventsourcing stores and what the Merkle leaf commits to can
never drift apart. The aggregate enforces the append-time rules that depend on the case's own
history (chain, sequence, closure); field validation happens before, in `ledger.events`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ledger.domain.case_state import CaseState
from ledger.entry import Entry, build_entry, parse_entry
from ledger.events.types import EVENT_TYPES

# Fixed forever: case aggregate ids are derived from (tenant, case), so that a case id is
# scoped to its tenant and two processes opening the same case collide on the same id.
_CASE_NAMESPACE = UUID("6c0d3f52-4f2e-4b51-9a55-3c1b2f7e9d10")


def case_uuid(tenant: str, case: str) -> UUID:
    return uuid5(_CASE_NAMESPACE, f"{tenant}\x00{case}")


class CaseEvent(Aggregate.Event):
    """Base of every case event: the entry bytes, nothing else."""

    entry: bytes

    def apply(self, aggregate: Case) -> None:
        aggregate.apply_entry(parse_entry(self.entry, trusted=True))


class CaseCreated(CaseEvent, Aggregate.Created):
    """Base of the one creation event, `CaseOpened`."""


_EVENT_CLASSES: dict[str, type[CaseEvent]] = {}


def _define_event_classes() -> None:
    # One class per event type, so topics name the dispute action (e.g. ...:OtpVerified).
    for name in EVENT_TYPES:
        base: type[CaseEvent] = CaseCreated if name == "CaseOpened" else CaseEvent
        cls = type(name, (base,), {"__module__": __name__, "__qualname__": name})
        globals()[name] = cls
        _EVENT_CLASSES[name] = cls


_define_event_classes()


def event_class(type_name: str) -> type[CaseEvent]:
    return _EVENT_CLASSES[type_name]


class Case(Aggregate):
    """A dispute case, as eventsourcing replays it: its state is the ledger's `CaseState`."""

    def __init__(self) -> None:
        self.state = CaseState(self.id)

    def apply_entry(self, entry: Entry) -> None:
        self.state.apply_entry(entry)

    def capture(self) -> CaseState:
        """The case's state, the aggregate's bookkeeping left out: a copy to keep or decide on."""
        return self.state.copy()


CASE_TOPIC = get_topic(Case)


def open_case(case_id: UUID, timestamp: Any, **fields: Any) -> tuple[CaseState, CaseEvent]:
    """The `CaseOpened` event of a new case, and the case it makes.

    The event is what `Aggregate._create` would make (same class, same attributes), built
    here so that the ledger decides on its own `CaseState`, not on an aggregate object."""
    entry = build_entry(case_seq=1, prev=None, type="CaseOpened", **fields)
    event = event_class("CaseOpened")(  # type: ignore[call-arg]
        originator_id=case_id, originator_version=1, timestamp=timestamp, entry=entry,
        originator_topic=CASE_TOPIC,
    )
    state = CaseState(case_id)
    state.apply_entry(parse_entry(entry, trusted=True))
    state.unsaved = 1
    return state, event


def next_event(state: CaseState, *, type: str, timestamp: Any, **fields: Any) -> CaseEvent:
    """The case's next event (what `Aggregate.trigger_event` would make), applied to `state`."""
    state.check_can_append(type)
    seq = state.version + 1
    entry = build_entry(case_seq=seq, prev=state.head, type=type, **fields)
    event = event_class(type)(  # type: ignore[call-arg]
        originator_id=state.id, originator_version=seq, timestamp=timestamp, entry=entry
    )
    state.apply_entry(parse_entry(entry, trusted=True))
    state.unsaved += 1
    return event
