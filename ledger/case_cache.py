"""The ledger's own cache of cases as this process last saved or read them.

It replaces eventsourcing's repository cache (whose inner dictionary the ledger used to read):
the first attempt of a commit decides on these states without a read per case, and `Ledger`
drops an entry wherever another process may have changed the case (a conflict, a refusal
re-checked on fresh state). Entries are never mutated: readers decide on a `copy()`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from ledger.domain.case_state import CaseState

# As many cases as eventsourcing's cache held for the case log (AGGREGATE_CACHE_MAXSIZE).
CASE_CACHE_SIZE = 10_000


class CaseCache:
    """A bounded least-recently-used map of case id to `CaseState`, safe across threads."""

    def __init__(self, size: int = CASE_CACHE_SIZE) -> None:
        self.size = size
        self._states: OrderedDict[UUID, CaseState] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._states

    def __len__(self) -> int:
        return len(self._states)

    def get(self, case_id: UUID) -> CaseState | None:
        """The cached state (shared: copy it before changing it), or None."""
        with self._lock:
            state = self._states.get(case_id)
            if state is not None:
                self._states.move_to_end(case_id)
            return state

    def put(self, state: CaseState) -> None:
        """Keep `state` as saved; the caller must not change it afterwards. A state older than
        the one cached is ignored: a fresh read may finish after a later commit's `put`."""
        with self._lock:
            current = self._states.get(state.id)
            if current is not None and current.version > state.version:
                return
            self._states[state.id] = state
            self._states.move_to_end(state.id)
            while len(self._states) > self.size:
                self._states.popitem(last=False)

    def evict(self, case_id: UUID) -> None:
        with self._lock:
            self._states.pop(case_id, None)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()
