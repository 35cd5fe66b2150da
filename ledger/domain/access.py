"""The access journal's aggregate (DESIGN §8): one trail of reads per (tenant, case).

Reads are recorded in a second log with the same entry, Merkle and checkpoint machinery, so
that reading never grows the case log while every read stays provable.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ledger.domain.case import CaseCreated, CaseEvent
from ledger.entry import Entry, build_entry

_TRAIL_NAMESPACE = UUID("2f6a8f0e-8d7c-4a5e-bb36-7d1f0c9a4e21")
ACCESS_TYPE = "AccessRecorded"


def trail_uuid(tenant: str, case: str) -> UUID:
    return uuid5(_TRAIL_NAMESPACE, f"{tenant}\x00{case}")


class AccessRecorded(CaseEvent):
    """A read of a case, its timeline, report or bundle."""


class AccessTrailStarted(CaseCreated):
    """The first recorded read of a case."""


class AccessTrail(Aggregate):
    TYPES: ClassVar[tuple[str, ...]] = (ACCESS_TYPE,)

    def __init__(self) -> None:
        self.head: bytes | None = None

    @classmethod
    def first_event(
        cls, *, trail_id: UUID, timestamp: Any, **fields: Any
    ) -> AccessTrailStarted:
        """The event that starts a trail: what `Aggregate._create` would make, built here
        (a new trail is saved, never decided on)."""
        entry = build_entry(case_seq=1, prev=None, type=ACCESS_TYPE, **fields)
        return AccessTrailStarted(  # type: ignore[call-arg]
            originator_id=trail_id, originator_version=1, timestamp=timestamp, entry=entry,
            originator_topic=get_topic(cls),
        )

    def record(self, *, timestamp: Any, **fields: Any) -> None:
        entry = build_entry(case_seq=self.version + 1, prev=self.head, type=ACCESS_TYPE, **fields)
        self.trigger_event(AccessRecorded, timestamp=timestamp, entry=entry)

    def apply_entry(self, entry: Entry) -> None:
        self.head = entry.leaf_hash


AccessTrailStarted.aggregate_topic = get_topic(AccessTrail)  # type: ignore[attr-defined]
