"""Maps case events to eventsourcing stored events whose state is the verbatim entry.

The default mapper would re-encode the event's attributes with its own transcoder; ours keeps
the entry bytes as the stored state, untouched, so the events table holds exactly what the
Merkle leaf hashes ("formats are forever": never re-serialised).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from ledger.domain.case import CASE_TOPIC, CaseCreated, CaseEvent

_RECORDED_AT = re.compile(rb'"recorded_at":"([^"]{1,40})"')
_CASE_TOPIC = CASE_TOPIC


def _timestamp(entry: bytes) -> datetime:
    # Only a convenience for eventsourcing's `modified_on`; the entry stays the authority.
    match = _RECORDED_AT.search(entry)
    if match:
        try:
            return datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.fromtimestamp(0, UTC)


class EntryMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder | None = None) -> None:
        super().__init__(transcoder=transcoder)  # type: ignore[arg-type]

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, CaseEvent):
            raise TypeError(f"only case events are stored in the log, got {type(domain_event)}")
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=domain_event.entry,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        originator_id = stored_event.originator_id
        if not isinstance(originator_id, UUID):
            originator_id = UUID(str(originator_id))
        entry = bytes(stored_event.state)
        kwargs: dict[str, Any] = {
            "originator_id": originator_id,
            "originator_version": stored_event.originator_version,
            "timestamp": _timestamp(entry),
            "entry": entry,
        }
        if issubclass(cls, CaseCreated):
            # Creation events rebuild their aggregate from this topic; the access journal's
            # creation event names its own aggregate class.
            kwargs["originator_topic"] = getattr(cls, "aggregate_topic", _CASE_TOPIC)
        return cls(**kwargs)
