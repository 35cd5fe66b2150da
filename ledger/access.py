"""The access journal: who read which case, its report or its bundle, and when (DESIGN §8).

A second Merkle log (`<origin>/access`, tables `access_*`, its own signing key) built with the
same recorders as the case log: reads are provable without ever growing the case log.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, Mapper

from ledger.application import open_recorder
from ledger.checkpointing import sign_if_grown
from ledger.config import Settings
from ledger.custody import open_signing_key
from ledger.domain.access import AccessTrail, trail_uuid
from ledger.entry import parse_entry
from ledger.errors import WriteConflictError
from ledger.mapper import EntryMapper
from ledger.merkle import leaf_hash
from ledger.signer_state import SignerStateError, state_path, verify_against_state
from ledger.signing import LogKey
from ledger.store.base import MerkleStore, StoredCheckpoint
from ledger.store.batch import AppendBatch

# Evidence files belong to a tenant, not to a case (the same bytes may serve several cases),
# so their downloads go to one trail per file: `(tenant, "evidence/<sha256>")`. A case id
# cannot contain "/", so this trail never mixes with a case's own.
EVIDENCE_TRAIL_PREFIX = "evidence/"


def evidence_trail(sha256: str) -> str:
    """The journal's `case` for downloads of one evidence file."""
    return EVIDENCE_TRAIL_PREFIX + sha256


ACTIONS = ("read_case", "read_entries", "read_timeline", "read_report", "download_bundle",
           "read_evidence")


class AccessLog(Application[UUID]):
    name = "Access"
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def construct_mapper(self) -> Mapper[UUID]:
        return EntryMapper()

    def construct_recorder(self) -> ApplicationRecorder:
        return open_recorder(self)


def _now_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AccessJournal:
    def __init__(self, settings: Settings) -> None:
        self.origin = f"{settings.origin}/access"
        self.app = AccessLog(env=settings.persistence_env())
        recorder: Any = self.app.recorder
        self.store: MerkleStore = recorder
        try:
            self.key: LogKey = open_signing_key(
                self.store, settings.access_key_path, self.origin, "the access journal"
            )
        except BaseException:
            self.app.close()
            raise
        self.state_path = state_path(settings.access_key_path)
        self._lock = threading.Lock()
        # Set by the server's checkpointer when this log forked: reads are then refused rather
        # than recorded onto a fork (docs/TRUST.md).
        self.refusing: SignerStateError | None = None

    def close(self) -> None:
        self.app.close()

    def record(self, *, tenant: str, case: str, who: str, role: str, action: str,
               detail: str = "") -> int:
        """Append one read to the case's trail; returns its index in the access log."""
        if self.refusing is not None:
            raise self.refusing
        if action not in ACTIONS:
            raise ValueError(f"unknown access action {action!r}; one of {', '.join(ACTIONS)}")
        trail_id = trail_uuid(tenant, case)
        for _ in range(5):
            moment = datetime.now(UTC)
            fields = {
                "log": self.origin, "tenant": tenant, "case": case,
                "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recorded_at": _now_text(moment), "source": who,
                "data": {"action": action, "role": role, **({"detail": detail} if detail else {})},
                "personal": {}, "evidence": [],
            }
            events: Sequence[Any]
            try:
                trail: AccessTrail = self.app.repository.get(trail_id)
                trail.record(timestamp=moment, **fields)
                events = trail.collect_events()
            except AggregateNotFoundError:
                events = [AccessTrail.first_event(trail_id=trail_id, timestamp=moment, **fields)]
            batch = AppendBatch()
            # The recorder's own append with the application's mapper, as the case log does:
            # the batch gets the leaf index back (no keyword tunnelled through save()).
            stored = [self.app.mapper.to_stored_event(e) for e in events]
            try:
                self.store.append_events(stored, batch)
            except WriteConflictError:
                continue  # a concurrent read of the same case took this case_seq
            return batch.indices[0]
        raise RuntimeError("could not record the access after 5 attempts")

    def journal(self, tenant: str, case: str) -> list[dict[str, Any]]:
        rows = self.store.case_leaves(trail_uuid(tenant, case))
        result = []
        for row in rows:
            if row.entry is None:
                continue
            entry = parse_entry(row.entry)
            item = {
                "at": entry.recorded_at, "who": entry.source, "role": entry.data.get("role"),
                "action": entry.data.get("action"), "index": row.index,
                "leaf_hash": leaf_hash(row.entry).hex(),
            }
            if "detail" in entry.data:
                item["detail"] = entry.data["detail"]
            result.append(item)
        return result

    def verify_state(self) -> None:
        """ForkError unless the stored journal still extends the last signed tree head."""
        verify_against_state(self.store, self.key, self.origin, self.state_path)

    def sign_checkpoint(self) -> StoredCheckpoint:
        with self._lock:
            return sign_if_grown(self.store, self.key, self.origin, self.state_path)
