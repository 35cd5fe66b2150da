"""Reading a case as of a tree size: the inputs every view (timeline, report, bundle) shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.case_file import CaseFile, read_case_file
from ledger.errors import NotFoundError, ValidationError
from ledger.ledger import Ledger
from projections.clocks import parse_time
from projections.timeline import build_timeline


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


def timeline(
    ledger: Ledger, tenant: str, case: str, *, size: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The case timeline exactly as it stood at tree size `size` (default: latest), read as
    one case file: the entries themselves, not the projection (which a read would otherwise
    have to bring up to date first, a write)."""
    tree_size = ledger.tree_size()
    if size is not None and not 0 <= size <= tree_size:
        raise SizeOutOfRangeError(f"size {size} is outside the log (0 … {tree_size})")
    file = read_case_file(ledger, tenant, case, size=tree_size if size is None else size)
    if not file.entries:
        if size is not None:
            known = ledger.case_entries(tenant, case)
            if known:
                raise CaseNotYetError(case, size, known[0].index)
        raise UnknownCaseError(case)
    return timeline_of(file, latest=size is None, now=now)


def timeline_of(file: CaseFile, *, latest: bool = False,
                now: datetime | None = None) -> dict[str, Any]:
    """The timeline of a case file. As of the log's clock when the tree reached the file's
    size (the recorded_at of its last leaf), or as of now for the `latest` view."""
    moment = now or datetime.now(UTC)
    as_of = moment
    if not latest and file.last_recorded_at is not None:
        as_of = parse_time(file.last_recorded_at)
    return build_timeline(
        file.entries, log=file.origin, tenant=file.tenant, case=file.case,
        as_of_size=file.size, as_of=as_of, generated_at=moment,
    )
