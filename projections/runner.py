"""Runs the read-side projections over the log: the case index and the timeline rows.

The projections follow the leaf order of the log and remember the next leaf index to process
(their *position*) in the same transaction as their rows. Restarting resumes from the position;
`rebuild()` drops everything and replays from index 0, and must give the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ledger.entry import parse_entry
from ledger.store.base import MerkleStore, StoreError
from ledger.store.projection_tables import CaseIndexRow, TimelineRow
from projections.timeline import timeline_row

NAME = "read-model/v1"
CHUNK = 5000
Progress = Callable[[int, int], None]


@dataclass
class _CaseDelta:
    tenant: str
    case: str
    status: str | None
    entries: int
    last_seq: int
    opened_at: str | None
    closed_at: str | None
    first_index: int
    last_index: int


def _json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ProjectionRunner:
    def __init__(self, store: MerkleStore, *, chunk: int = CHUNK) -> None:
        self.store = store
        self.chunk = chunk

    def position(self) -> int:
        return self.store.projection_position(NAME)

    def run_once(self) -> int:
        """Apply at most one chunk; returns how many entries it applied (0: caught up)."""
        start = self.position()
        cases: dict[tuple[str, str], _CaseDelta] = {}
        timeline: list[TimelineRow] = []
        end = start
        for row in self.store.iter_leaves(start, start + self.chunk):
            if row.index != end:
                raise StoreError(f"projection stops before index {end}: the leaf is missing")
            if row.entry is None:
                raise StoreError(f"projection stops at index {row.index}: its entry is missing")
            entry = parse_entry(row.entry)
            key = (entry.tenant, entry.case)
            delta = cases.get(key)
            if delta is None:
                delta = cases[key] = _CaseDelta(entry.tenant, entry.case, None, 0, 0, None, None,
                                                row.index, row.index)
            delta.entries += 1
            delta.last_seq = entry.case_seq
            delta.last_index = row.index
            if entry.type == "CaseOpened":
                delta.status, delta.opened_at = "open", entry.occurred_at
            elif entry.type == "CaseClosed":
                delta.status, delta.closed_at = "closed", entry.occurred_at
            timeline.append(TimelineRow(
                row.index, entry.tenant, entry.case, entry.case_seq,
                _json(timeline_row(row.index, row.leaf_hash, entry)),
            ))
            end = row.index + 1
        if end == start:
            return 0
        rows = [CaseIndexRow(**vars(d)) for d in cases.values()]
        if not self.store.save_projection(NAME, start, end, rows, timeline):
            return 0  # another runner applied this chunk first; ours is discarded
        return end - start

    def catch_up(self, progress: Progress | None = None) -> int:
        total, done = self.store.tree_size(), 0
        while applied := self.run_once():
            done += applied
            if progress is not None:
                progress(self.position(), total)
        return done

    def rebuild(self, progress: Progress | None = None) -> int:
        self.store.projection_position(NAME)
        self.store.reset_projections(NAME)
        return self.catch_up(progress)
