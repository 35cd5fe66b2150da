"""The eventsourcing Application that stores case events in a Merkle log."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from ledger.domain import Case
from ledger.mapper import EntryMapper
from ledger.store.base import MerkleStore


class CaseLog(Application[UUID]):
    """Cases and their events; the recorder adds leaves, nodes and side rows in the same commit.

    The application name ("Cases") prefixes the tables: `cases_events`, `cases_leaves`, ...
    """

    name = "Cases"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def construct_mapper(self) -> Mapper[UUID]:
        return EntryMapper()

    @property
    def store(self) -> MerkleStore:
        recorder: Any = self.recorder
        return recorder

    def get_case(self, case_id: UUID, version: int | None = None) -> Case:
        return self.repository.get(case_id, version=version)

    def get_case_shared(self, case_id: UUID) -> Case:
        """The case as stored now, possibly the cache's own object: never mutate it (the
        ledger decides on a shallow copy whose attributes it replaces, `_private_copy`)."""
        return self.repository.get(case_id, deepcopy_from_cache=False)
