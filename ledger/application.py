"""The eventsourcing Application that stores case events in a Merkle log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Mapper

from ledger.domain import Case
from ledger.mapper import EntryMapper
from ledger.store.base import MerkleStore
from ledger.store.driver_errors import translated


def open_recorder(app: Application[UUID]) -> ApplicationRecorder:
    """The recorder of `app`, its errors translated: opening it connects (and creates the
    tables), so a database that cannot be reached is the tree's `DatabaseUnavailableError`
    here as on any later query, never a driver's or eventsourcing's error."""
    with translated():
        return Application.construct_recorder(app)


class CaseLog(Application[UUID]):
    """Cases and their events; the recorder adds leaves, nodes and side rows in the same commit.

    The application name ("Cases") prefixes the tables: `cases_events`, `cases_leaves`, ...
    """

    name = "Cases"
    # No eventsourcing aggregate cache: the ledger keeps its own (ledger/case_cache.py).

    def construct_mapper(self) -> Mapper[UUID]:
        return EntryMapper()

    def construct_recorder(self) -> ApplicationRecorder:
        return open_recorder(self)

    @property
    def store(self) -> MerkleStore:
        recorder: Any = self.recorder
        return recorder

    def get_case(self, case_id: UUID, version: int | None = None) -> Case:
        """The case replayed by eventsourcing's repository (the ledger reads its own way;
        this is the documented path, kept to check that both agree)."""
        return self.repository.get(case_id, version=version)
