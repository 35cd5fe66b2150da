"""Reading a case as of a tree size: the inputs every view (timeline, report, bundle) shares."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ledger.entry import parse_entry
from ledger.errors import NotFoundError, ValidationError
from ledger.ledger import Ledger
from projections.clocks import parse_time
from projections.runner import ProjectionRunner
from projections.timeline import assemble_timeline


class UnknownCaseError(NotFoundError, LookupError):
    pass


class CaseNotYetError(UnknownCaseError):
    """The case exists, but its first entry is at or beyond the requested tree size: replayed
    at that size it does not exist yet, which is not the same as a case that never did."""

    def __init__(self, case: str, size: int, first_index: int) -> None:
        super().__init__(f"case {case!r} had no entries at tree size {size}: its first entry "
                         f"is index {first_index}")
        self.case = case
        self.size = size
        self.first_index = first_index


class SizeOutOfRangeError(ValidationError, ValueError):
    pass


def log_time_at(ledger: Ledger, size: int) -> datetime:
    """The ledger's clock when the tree reached `size`: the recorded_at of leaf size-1."""
    row = ledger.store.leaf(size - 1) if size > 0 else None
    if row is None or row.entry is None:
        return datetime.now(UTC)
    return parse_time(parse_entry(row.entry).recorded_at)


def timeline(
    ledger: Ledger, tenant: str, case: str, *, size: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The case timeline exactly as it stood at tree size `size` (default: latest)."""
    tree_size = ledger.tree_size()
    if size is not None and not 0 <= size <= tree_size:
        raise SizeOutOfRangeError(f"size {size} is outside the log (0 … {tree_size})")
    as_of_size = tree_size if size is None else size
    ProjectionRunner(ledger.store).catch_up()
    rows = [json.loads(r) for r in ledger.store.timeline_rows(tenant, case, below=as_of_size)]
    if not rows:
        known = ledger.store.case_index(tenant, case) if size is not None else None
        if known is not None:
            raise CaseNotYetError(case, as_of_size, known.first_index)
        raise UnknownCaseError(case)
    moment = now or datetime.now(UTC)
    as_of = moment if size is None else log_time_at(ledger, as_of_size)
    return assemble_timeline(
        rows, log=ledger.origin, tenant=tenant, case=case, as_of_size=as_of_size,
        as_of=as_of, generated_at=moment,
    )
