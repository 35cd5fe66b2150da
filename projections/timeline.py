"""The case timeline (`temoin.timeline/v1`): every entry of a case in log order, with both
times, the emitting system, the facts, the evidence, late-arrival flags and the legal clocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ledger.entry import Entry
from ledger.ledger import CaseEntry
from projections.clocks import Event, legal_clocks, parse_time

FORMAT = "temoin.timeline/v1"
LATE_AFTER = timedelta(hours=24)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline_row(index: int, leaf: bytes, e: Entry,
                 late_after: timedelta = LATE_AFTER) -> dict[str, Any]:
    """One entry as the timeline shows it; also what the timeline projection stores."""
    delay = int((parse_time(e.recorded_at) - parse_time(e.occurred_at)).total_seconds())
    return {
        "index": index,
        "case_seq": e.case_seq,
        "type": e.type,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "source": e.source,
        "data": e.data,
        "personal_fields": sorted(e.personal),
        "evidence": e.evidence,
        "late": delay > late_after.total_seconds(),
        "delay_seconds": delay,
        "leaf_hash": leaf.hex(),
    }


def build_timeline(
    entries: Sequence[CaseEntry],
    *,
    log: str,
    tenant: str,
    case: str,
    as_of_size: int,
    as_of: datetime,
    generated_at: datetime,
    late_after: timedelta = LATE_AFTER,
) -> dict[str, Any]:
    """`entries` are the case's entries with index < as_of_size, in index order."""
    return assemble_timeline(
        [timeline_row(item.index, item.leaf_hash, item.entry, late_after) for item in entries],
        log=log, tenant=tenant, case=case, as_of_size=as_of_size, as_of=as_of,
        generated_at=generated_at,
    )


def assemble_timeline(
    rows: Sequence[dict[str, Any]],
    *,
    log: str,
    tenant: str,
    case: str,
    as_of_size: int,
    as_of: datetime,
    generated_at: datetime,
) -> dict[str, Any]:
    """The timeline document from its rows (from entries, or from the timeline projection)."""
    status, opened_at, closed_at = "open", None, None
    events = []
    for row in rows:
        events.append(Event(row["index"], row["type"], parse_time(row["occurred_at"]), row["data"]))
        if row["type"] == "CaseOpened":
            opened_at = row["occurred_at"]
        elif row["type"] == "CaseClosed":
            status, closed_at = "closed", row["occurred_at"]
    return {
        "format": FORMAT,
        "log": log,
        "tenant": tenant,
        "case": case,
        "as_of_size": as_of_size,
        "as_of": _iso(as_of),
        "generated_at": _iso(generated_at),
        "status": status,
        "opened_at": opened_at,
        "closed_at": closed_at,
        "entries": list(rows),
        "clocks": legal_clocks(events, as_of),
    }
