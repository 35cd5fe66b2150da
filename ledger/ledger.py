"""The ledger: the one object the API and the command line talk to.

It turns validated requests into case events, seals personal data, and saves a whole group of
events (for any number of cases) in one transaction: group commit (DESIGN §4).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger.application import CaseLog
from ledger.checkpoint import Checkpoint
from ledger.config import Settings
from ledger.domain import Case, CaseClosedError, CaseExistsError, case_uuid
from ledger.entry import Entry, parse_entry
from ledger.errors import (
    BusyError,
    CaseConflictError,
    CaseNotFoundError,
    EvidenceNotFoundError,
    SequenceConflictError,
)
from ledger.events.validate import ValidEvent
from ledger.merkle import consistency_plan, inclusion_plan
from ledger.signing import LogKey, sign_checkpoint
from ledger.store.base import MerkleStore, StoredCheckpoint
from ledger.store.batch import AppendBatch, SealedOpening
from ledger.vault import CaseKey, MasterKey, Opening, new_opening

_RETRIES = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_recorded_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class AppendRequest:
    tenant: str
    source: str
    case: str
    event: ValidEvent
    expected_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    case: str
    case_seq: int
    index: int
    leaf_hash: str
    recorded_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "case_seq": self.case_seq,
            "index": self.index,
            "leaf_hash": self.leaf_hash,
            "recorded_at": self.recorded_at,
        }


@dataclass(frozen=True, slots=True)
class CaseEntry:
    index: int
    leaf_hash: bytes
    entry: Entry


class Ledger:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.app = CaseLog(env=settings.persistence_env())
        self.store: MerkleStore = self.app.store
        self.key = LogKey.load_or_create(settings.key_path, settings.origin)
        self.master = MasterKey.load_or_create(settings.vault_key_path)
        self._case_keys: dict[str, CaseKey] = {}
        self._sign_lock = threading.Lock()

    @property
    def origin(self) -> str:
        return self.settings.origin

    def close(self) -> None:
        self.app.close()

    # -- appending ------------------------------------------------------------------------
    def append(
        self,
        requests: Sequence[AppendRequest],
        *,
        idempotency: Sequence[tuple[str, str, str, str, str]] = (),
        now: datetime | None = None,
    ) -> list[Receipt]:
        """Append all requests in one transaction, in order; all or nothing."""
        for attempt in range(_RETRIES):
            batch = AppendBatch(idempotency=list(idempotency))
            events, receipts_info = self._prepare(requests, batch, now or utc_now())
            try:
                self.app.save(*events, append=batch)
            except IntegrityError as exc:
                # Another process appended to one of these cases (or opened it) meanwhile:
                # drop our cached views and decide again on fresh state.
                self._forget(requests)
                if attempt == _RETRIES - 1:
                    raise BusyError(
                        "concurrent appends to the same case kept conflicting; retry"
                    ) from exc
                continue
            return [
                Receipt(case, seq, index, leaf.hex(), recorded_at)
                for (case, seq, leaf, recorded_at), index in zip(
                    receipts_info, batch.indices, strict=True
                )
            ]
        raise AssertionError("unreachable")

    def _forget(self, requests: Sequence[AppendRequest]) -> None:
        cache = self.app.repository.cache
        if cache is None:
            return
        for r in requests:
            try:
                cache.get(case_uuid(r.tenant, r.case), evict=True)
            except KeyError:
                pass

    def _load(self, case_id: UUID) -> Case | None:
        try:
            return self.app.get_case(case_id)
        except AggregateNotFoundError:
            return None

    def _prepare(
        self, requests: Sequence[AppendRequest], batch: AppendBatch, now: datetime
    ) -> tuple[list[Any], list[tuple[str, int, bytes, str]]]:
        recorded_at = format_recorded_at(now)
        cases: dict[UUID, Case | None] = {}
        events: list[Any] = []
        info: list[tuple[str, int, bytes, str]] = []
        for position, req in enumerate(requests):
            case_id = case_uuid(req.tenant, req.case)
            if case_id not in cases:
                cases[case_id] = self._load(case_id)
            case = cases[case_id]
            ev = req.event
            if case is None and ev.type != "CaseOpened":
                raise CaseNotFoundError(
                    f"case {req.case!r} does not exist: its first event must be CaseOpened",
                    position=position,
                )
            last_seq = 0 if case is None else case.version
            if req.expected_seq is not None and req.expected_seq != last_seq:
                raise SequenceConflictError(
                    f"case {req.case!r} is at case_seq {last_seq}, expected_seq was "
                    f"{req.expected_seq}",
                    position=position,
                )
            seq = last_seq + 1
            commitments = self._seal_personal(case_id, seq, ev.personal, batch)
            fields = {
                "log": self.origin,
                "tenant": req.tenant,
                "case": req.case,
                "occurred_at": ev.occurred_at,
                "recorded_at": recorded_at,
                "source": req.source,
                "data": ev.data,
                "personal": commitments,
                "evidence": self._evidence(req.tenant, ev.evidence, position),
            }
            try:
                if case is None:
                    case = Case.open(case_id=case_id, timestamp=now, **fields)
                    cases[case_id] = case
                else:
                    case.append(type=ev.type, timestamp=now, **fields)
            except CaseExistsError as exc:
                raise CaseConflictError(str(exc), position=position) from exc
            except CaseClosedError as exc:
                raise CaseConflictError(str(exc), position=position) from exc
            event = case.pending_events[-1]
            events.append(event)
            info.append((req.case, seq, parse_entry(event.entry).leaf_hash, recorded_at))
        for case in cases.values():
            if case is not None:
                case.collect_events()  # saved below, one by one in request order
        return events, info

    def _evidence(
        self, tenant: str, refs: list[dict[str, str]], position: int
    ) -> list[dict[str, Any]]:
        result = []
        for ref in refs:
            found = self.store.evidence(tenant, ref["sha256"])
            if found is None:
                raise EvidenceNotFoundError(
                    f"evidence {ref['sha256']} was never uploaded: POST it to /v1/evidence first",
                    position=position,
                )
            media_type, size = found
            result.append(
                {"sha256": ref["sha256"], "media_type": media_type, "size": size,
                 "role": ref["role"]}
            )
        return result

    def _case_key(self, case_id: UUID, batch: AppendBatch) -> CaseKey:
        hex_id = case_id.hex
        key = self._case_keys.get(hex_id)
        if key is not None:
            return key
        pending = next((w for c, w in batch.case_keys if c == hex_id), None)
        wrapped = pending or self.store.case_key(hex_id)
        if wrapped is None:
            key = CaseKey.generate(hex_id)
            batch.case_keys.append((hex_id, self.master.wrap(key)))
            return key  # cached only once committed
        key = self.master.unwrap(hex_id, wrapped)
        if pending is None:
            self._case_keys[hex_id] = key
        return key

    def _seal_personal(
        self, case_id: UUID, seq: int, personal: dict[str, str], batch: AppendBatch
    ) -> dict[str, str]:
        if not personal:
            return {}
        key = self._case_key(case_id, batch)
        commitments: dict[str, str] = {}
        for name, value in personal.items():
            opening = new_opening(value)
            commitments[name] = opening.commitment()
            batch.openings.append(
                SealedOpening(case_id.hex, seq, name, key.seal_opening(seq, name, opening))
            )
        return commitments

    # -- reading --------------------------------------------------------------------------
    def case(self, tenant: str, case: str, *, size: int | None = None) -> Case | None:
        found = self._load(case_uuid(tenant, case))
        if found is None or size is None:
            return found
        entries = self.case_entries(tenant, case, size=size)
        if not entries:
            return None
        return self.app.get_case(case_uuid(tenant, case), version=entries[-1].entry.case_seq)

    def case_entries(self, tenant: str, case: str, *, size: int | None = None) -> list[CaseEntry]:
        rows = self.store.case_leaves(case_uuid(tenant, case), below=size)
        return [
            CaseEntry(r.index, r.leaf_hash, parse_entry(r.entry))
            for r in rows
            if r.entry is not None and r.index >= 0
        ]

    def openings(self, tenant: str, case: str) -> dict[int, dict[str, Opening]]:
        """Personal openings of a case by case_seq, for checking against its entries."""
        hex_id = case_uuid(tenant, case).hex
        wrapped = self.store.case_key(hex_id)
        if wrapped is None:
            return {}
        key = self.master.unwrap(hex_id, wrapped)
        result: dict[int, dict[str, Opening]] = {}
        for seq, field, sealed in self.store.sealed_openings(hex_id):
            result.setdefault(seq, {})[field] = key.open_opening(seq, field, sealed)
        return result

    # -- proofs and checkpoints -----------------------------------------------------------
    def tree_size(self) -> int:
        return self.store.tree_size()

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.store.proof(inclusion_plan(index, size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.store.proof(consistency_plan(size1, size2))

    def sign_checkpoint(self) -> StoredCheckpoint:
        """Sign the current tree head unless the latest checkpoint already covers it."""
        with self._sign_lock:
            size = self.store.tree_size()
            latest = self.store.latest_checkpoint()
            if latest is not None and latest.size >= size:
                return latest
            root = self.store.root(size)
            note = sign_checkpoint(self.key, Checkpoint(self.origin, size, root))
            self.store.store_checkpoint(size, root, note, format_recorded_at(utc_now()))
            stored = self.store.checkpoint(size)
            assert stored is not None
            return stored
