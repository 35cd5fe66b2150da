"""What retention needs to know of each case, read from the log itself (the entries are the
only source of truth: a projection could lag or be rebuilt).

One pass over the entries in index order; per case a few facts (about 200 bytes), so memory
grows with the number of cases, never with the number of entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson

from ledger.retention.classes import LOCATION_FIELDS
from ledger.store.protocols import LogReader

_NONE: frozenset[str] = frozenset()  # shared by every case until it has one: most have none


@dataclass(slots=True)
class CaseFacts:
    tenant: str
    case: str
    case_id: str  # hex of the aggregate id, as the vault keys its rows
    retention_class: str | None = None
    closed_at: str | None = None
    holds: frozenset[str] = _NONE
    erased: bool = False  # every personal field destroyed
    live_location: frozenset[str] = _NONE  # location fields still openable
    evidence: frozenset[str] = _NONE  # sha256 of the files its entries cite
    destroyed: frozenset[str] = _NONE  # files an erasure entry says destroyed
    runs: frozenset[str] = _NONE  # retention runs that touched the case


def _hex(originator_id: object) -> str:
    text = str(originator_id)
    return text.replace("-", "") if len(text) == 36 else text


def _apply(facts: CaseFacts, obj: dict) -> None:
    kind, data = obj["type"], obj["data"]
    if obj["evidence"]:
        facts.evidence = facts.evidence | {ref["sha256"] for ref in obj["evidence"]}
    if (kind == "CaseOpened" and "retention_class" in data) or kind == "RetentionClassSet":
        facts.retention_class = data["retention_class"]
    elif kind == "CaseClosed":
        facts.closed_at = obj["occurred_at"]
    elif kind == "LegalHoldPlaced":
        facts.holds = facts.holds | {data["reference"]}
    elif kind == "LegalHoldReleased":
        facts.holds = facts.holds - {data["reference"]}
    elif kind == "PersonalDataErased":
        listed = data.get("fields")
        if listed is None:
            facts.erased = True
            facts.live_location = _NONE
        else:
            facts.live_location = facts.live_location - set(listed)
        if data.get("evidence_destroyed"):
            facts.destroyed = facts.destroyed | set(data["evidence_destroyed"])
        if "retention_run" in data:
            facts.runs = facts.runs | {data["retention_run"]}
    live = [name for name in LOCATION_FIELDS if name in obj["personal"]]
    if live and not facts.erased:
        facts.live_location = facts.live_location | set(live)


def read_facts(
    store: LogReader, progress: Callable[[int, int], None] | None = None
) -> dict[str, CaseFacts]:
    """Facts of every case of the log, by case id (hex)."""
    size = store.tree_size()
    cases: dict[str, CaseFacts] = {}
    for n, (_index, _hash, oid, _version, raw) in enumerate(_rows(store, size), 1):
        if raw is None:
            continue
        obj = orjson.loads(raw)
        case_id = _hex(oid)
        facts = cases.get(case_id)
        if facts is None:
            facts = cases[case_id] = CaseFacts(obj["tenant"], obj["case"], case_id)
        _apply(facts, obj)
        if progress is not None and n % 10_000 == 0:
            progress(n, size)
    if progress is not None:
        progress(size, size)
    return cases


def _rows(store: LogReader, size: int) -> Iterator[tuple]:
    return store.iter_leaf_tuples(0, size)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
