"""The ledger: the one object the API and the command line talk to.

It turns validated requests into case events, seals personal data, and saves a whole group of
events (for any number of cases) in one transaction: group commit (DESIGN §4).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from ledger.application import CaseLog
from ledger.case_cache import CaseCache
from ledger.checkpointing import sign_if_grown
from ledger.config import Settings
from ledger.custody import open_case_log_keys
from ledger.domain import (
    CaseClosedError,
    CaseEvent,
    CaseExistsError,
    CaseState,
    ErasedError,
    HoldError,
    case_uuid,
    next_event,
    open_case,
)
from ledger.entry import Entry, parse_entry
from ledger.errors import (
    BusyError,
    CaseConflictError,
    CaseNotFoundError,
    EvidenceNotFoundError,
    IdempotencyConflictError,
    InternalAppendError,
    LedgerError,
    LegalHoldError,
    RetentionClassError,
    SequenceConflictError,
    UnavailableError,
    WriteConflictError,
)
from ledger.events.validate import ValidEvent
from ledger.evidence import EvidenceFiles, StoredFile
from ledger.filemodes import private_dir
from ledger.merkle import consistency_plan, inclusion_plan
from ledger.retention.classes import RetentionPolicy
from ledger.signer_state import state_path, verify_against_state
from ledger.signing import LogKey
from ledger.store.base import MerkleStore, StoredCheckpoint
from ledger.store.batch import AppendBatch, Erasure, IdempotencyRecord, SealedOpening
from ledger.vault import CaseKey, MasterKey, Opening, new_opening

_RETRIES = 5
# Retries of a part of a failed commit (`_isolate`): its conflicts were retried already.
_PART_RETRIES = 2
# Errors that say the database is unavailable or a bounded wait ran out: no group is to
# blame, every group of the commit fails alike (503).
_UNAVAILABLE = UnavailableError

log = logging.getLogger("temoin.ledger")
# Unwrapped case keys kept for sealing new openings; bounded, and a case's key leaves it when
# the case is erased or its cached state is found stale (see `_case_key`).
_KEY_CACHE_SIZE = 4096


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_recorded_at(moment: datetime) -> str:
    m = moment.astimezone(UTC)
    # The same text as strftime("%Y-%m-%dT%H:%M:%S.%fZ"), without strftime's cost.
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
        f"{m.second:02d}.{m.microsecond:06d}Z"
    )


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
class Idempotency:
    """An Idempotency-Key: `render` turns the receipts into the answer stored with the key."""

    tenant: str
    key: str
    request_hash: str
    render: Callable[[list[Receipt]], str]
    legacy_hash: str | None = None  # the unkeyed form older releases stored


@dataclass(slots=True)
class AppendGroup:
    """The events of one client request: they succeed or fail together."""

    requests: list[AppendRequest]
    idempotency: Idempotency | None = None


@dataclass(frozen=True, slots=True)
class Replayed:
    """The stored answer of an Idempotency-Key seen before with the same request."""

    response: str


class _Pending(list[Receipt]):
    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = start


@dataclass(slots=True)
class _Failed:
    """A commit attempt (with its retries) that no group's rule explains: `error` is the
    BusyError of conflicts that kept recurring, or the exception its insert raised."""

    error: Exception


@dataclass(slots=True)
class _Budget:
    """How many more part-commits `_isolate` may try: enough to single out a couple of
    guilty groups, not 2n when every part fails (a broken database, not one request)."""

    left: int


GroupResult = list[Receipt] | Replayed | LedgerError


@dataclass(slots=True)
class _Loads:
    """How one commit attempt loads its cases, and which came from the cache."""

    fresh: bool
    recorded_at: str
    cached: set[UUID] = dataclasses.field(default_factory=set)
    absent: set[UUID] = dataclasses.field(default_factory=set)  # no event stored yet
    assumed: set[UUID] = dataclasses.field(default_factory=set)  # absent, not asked


def _replay(
    case_id: UUID, stored: Iterable[StoredEvent], state: CaseState | None = None
) -> CaseState | None:
    """`state` (or a new case) with these stored events of the case applied in order. The
    stored state of a case event is its entry, verbatim (ledger/mapper.py)."""
    for event in stored:
        if state is None:
            state = CaseState(case_id)
        state.apply_entry(parse_entry(bytes(event.state), trusted=True))
    return state


@functools.lru_cache(maxsize=65536)
def _case_id(tenant: str, case: str) -> UUID:
    return case_uuid(tenant, case)


def _indexed(pending: _Pending, indices: list[int]) -> list[Receipt]:
    start = pending.start
    return [
        Receipt(r.case, r.case_seq, i, r.leaf_hash, r.recorded_at)
        for r, i in zip(pending, indices[start : start + len(pending)], strict=True)
    ]


@dataclass(frozen=True, slots=True)
class CaseEntry:
    index: int
    leaf_hash: bytes
    entry: Entry


class Ledger:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.retention = RetentionPolicy.from_env()  # a bad TEMOIN_RETENTION_* stops us first
        private_dir(settings.data_dir)
        self.app = CaseLog(env=settings.persistence_env())
        self.store: MerkleStore = self.app.store
        # Checked against the database before any key is created: a missing or replaced
        # key over a log that already signed checkpoints is refused (KeyCustodyError).
        try:
            keys = open_case_log_keys(
                self.store, settings.key_path, settings.vault_key_path, settings.origin
            )
        except BaseException:
            self.app.close()
            raise
        self.key: LogKey = keys.log
        self.master: MasterKey = keys.master
        self.files = EvidenceFiles(settings.evidence_dir)
        # Cases as this process last saved or read them (ledger/case_cache.py).
        self._cases = CaseCache()
        self._case_keys: OrderedDict[str, CaseKey] = OrderedDict()
        self._keys_lock = threading.Lock()
        self._sign_lock = threading.Lock()

    @functools.cached_property
    def idempotency_secret(self) -> bytes:
        """The key of Idempotency-Key fingerprints: derived from the vault master key, so
        that the database alone cannot test guesses of a request's personal values."""
        return hmac.new(self.master.key, b"temoin idempotency fingerprint/v1",
                        hashlib.sha256).digest()

    def purge_idempotency(self, older_than: timedelta) -> int:
        """Forget Idempotency-Key records older than `older_than` (never under 24 hours, the
        time API.md promises to keep them)."""
        if older_than < timedelta(hours=24):
            raise ValueError(
                f"Idempotency-Key records are kept at least 24 hours, got {older_than}"
            )
        return self.store.purge_idempotency(format_recorded_at(utc_now() - older_than))

    @property
    def origin(self) -> str:
        return self.settings.origin

    def close(self) -> None:
        self.app.close()

    # -- appending ------------------------------------------------------------------------
    def append(
        self, requests: Sequence[AppendRequest], *, now: datetime | None = None
    ) -> list[Receipt]:
        """Append all requests in one transaction, in order; all or nothing."""
        result = self.commit([AppendGroup(list(requests))], now=now)[0]
        if isinstance(result, LedgerError):
            raise result
        assert isinstance(result, list)
        return result

    def commit(
        self, groups: Sequence[AppendGroup], *, now: datetime | None = None,
        deadline: float | None = None,
    ) -> list[GroupResult]:
        """Group commit: every group that passes its checks is saved in ONE transaction.

        Each group is all-or-nothing on its own: a group that breaks a rule gets its error and
        leaves no trace, while the others still commit together. A group whose preparation
        fails unexpectedly gets an InternalAppendError; a failed insert that one group may
        cause (conflicts that keep recurring, an error of a per-group hook) is retried
        without it (`_isolate`), so that it fails alone. Only an unavailable database (or a
        bounded wait that ran out) fails every group: it raises.

        `deadline` (time.monotonic()) is when the callers stop waiting for the database lock.
        """
        outcome = self._attempt(groups, now, deadline, _RETRIES)
        if not isinstance(outcome, _Failed):
            return outcome
        budget = _Budget(4 * math.ceil(math.log2(len(groups))) + 4 if len(groups) > 1 else 0)
        return self._isolate(groups, outcome, now, deadline, budget)

    def _attempt(
        self, groups: Sequence[AppendGroup], now: datetime | None, deadline: float | None,
        retries: int,
    ) -> list[GroupResult] | _Failed:
        """Prepare and insert `groups` in one transaction, retrying conflicts on fresh state."""
        for attempt in range(retries):
            moment = now or utc_now()
            results: list[GroupResult] = []
            events: list[CaseEvent] = []
            batch = AppendBatch()
            if deadline is not None:
                batch.lock_wait = deadline - time.monotonic()
            cases: dict[UUID, CaseState | None] = {}
            # The first attempt decides on cached cases as this process last saved them (no
            # read per case); a retry after a conflict reads every case afresh.
            loads = _Loads(fresh=attempt > 0, recorded_at=format_recorded_at(moment))
            self._probe(groups, loads)
            for group in groups:
                results.append(self._prepare_group(group, cases, events, batch, moment, loads))
            if not events:
                return results
            try:
                # The application's mapper, then the recorder's own append (the events, their
                # leaves and the batch's side rows in one transaction), instead of
                # Application.save: no runtime checks on every event (8% of a 1,000-event
                # commit in the profile), and no keyword tunnelled through eventsourcing.
                # CaseLog takes no snapshots and has no followers.
                to_stored = self.app.mapper.to_stored_event
                self.store.append_events([to_stored(e) for e in events], batch)
            except WriteConflictError as exc:
                # Another process appended to one of these cases (or used the same
                # Idempotency-Key) meanwhile, or our cached copy of a case was behind:
                # decide again on fresh state.
                self._forget(groups)
                if attempt == retries - 1:
                    busy = BusyError("concurrent appends to the same case kept conflicting; retry")
                    busy.__cause__ = exc
                    return _Failed(busy)
                if attempt > 0 or not (loads.cached or loads.assumed):
                    time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
                continue
            except _UNAVAILABLE:
                raise
            except Exception as exc:  # one group's data or hook may be to blame: _isolate
                return _Failed(exc)
            self._remember(cases)
            for erasure in batch.erasures:
                if erasure.fields is None:
                    self._drop_key(erasure.case_id)
            return [
                _indexed(res, batch.indices) if isinstance(res, _Pending) else res
                for res in results
            ]
        raise AssertionError("unreachable")

    def _isolate(
        self, groups: Sequence[AppendGroup], failed: _Failed, now: datetime | None,
        deadline: float | None, budget: _Budget,
    ) -> list[GroupResult]:
        """The commit of `groups` failed with no rule to blame: commit each half on its own,
        the first before the second (request order is kept), and split a failing half again,
        down to the group that fails alone. The others commit in a few transactions."""
        if len(groups) == 1:
            return [self._group_failure(groups[0], failed.error)]
        half = len(groups) // 2
        results: list[GroupResult] = []
        for part in (groups[:half], groups[half:]):
            if budget.left <= 0:
                ref = uuid4().hex[:12]
                log.error("%d requests failed, ref %s, and no single one could be blamed",
                          len(part), ref, exc_info=failed.error)
                results.extend(self._group_failure(g, failed.error, ref=ref) for g in part)
                continue
            budget.left -= 1
            try:
                outcome = self._attempt(part, now, deadline, _PART_RETRIES)
            except _UNAVAILABLE as exc:
                # Not raised: the parts before this one committed, and their callers must
                # get their receipts, not an error that makes them append again.
                busy = BusyError(
                    "the database failed while this request was being committed apart from "
                    "a failing one; nothing of it was stored; retry"
                )
                busy.__cause__ = exc
                results.extend(busy for _ in part)
                continue
            if isinstance(outcome, _Failed):
                outcome = self._isolate(part, outcome, now, deadline, budget)
            results.extend(outcome)
        return results

    def _group_failure(
        self, group: AppendGroup, error: Exception, *, position: int | None = None,
        ref: str | None = None,
    ) -> LedgerError:
        """The error of one group that failed alone: its own LedgerError (BusyError), else an
        InternalAppendError naming the request, with the traceback in the server log."""
        if isinstance(error, LedgerError):
            return error
        logged, ref = ref is not None, ref or uuid4().hex[:12]
        first = group.requests[0] if position is None else group.requests[position]
        where = f"event {position} (case {first.case!r})" if position is not None else (
            f"this request ({len(group.requests)} event(s), case {first.case!r})"
        )
        if not logged:
            log.error("append failed: %s of tenant %r, ref %s: %s: %s", where, first.tenant,
                      ref, type(error).__name__, error, exc_info=error)
        return InternalAppendError(
            f"{where} could not be stored: internal error {type(error).__name__} (ref {ref}); "
            "nothing of this request was stored and no other request was affected; the "
            "server log has the details under this ref",
            ref=ref, position=position,
        )

    def _probe(self, groups: Sequence[AppendGroup], loads: _Loads) -> None:
        """One query for which of the commit's uncached cases exist, instead of one failed
        aggregate read (and one vault key read) per new case.

        A case whose first request is a CaseOpened is not asked about at all: it is assumed
        new, as plain eventsourcing does, because if it exists its event 1 (and its vault
        key) already do and the insert fails on their unique keys; `commit` then decides
        again on fresh state and answers that the case exists. The query was a tenth of a
        new case's append on SQLite.
        """
        if loads.fresh:
            return
        cached = self._cases
        unknown: dict[str, UUID] = {}
        seen: set[UUID] = set()
        for group in groups:
            for r in group.requests:
                case_id = _case_id(r.tenant, r.case)
                if case_id in seen or case_id in cached:
                    continue
                seen.add(case_id)
                if r.event.type == "CaseOpened" and not r.expected_seq:
                    loads.assumed.add(case_id)
                    loads.absent.add(case_id)
                else:
                    unknown[case_id.hex] = case_id
        if unknown:
            existing = self.store.existing_aggregates(list(unknown.values()))
            loads.absent.update(c for h, c in unknown.items() if h not in existing)

    def prefetch(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Load these (tenant, case) cases into the case cache with one query per 500 cases,
        so that a commit of thousands of groups (a retention run) decides on cached cases
        instead of reading them one by one (a round trip each: 80% of a PostgreSQL run)."""
        ids = [_case_id(t, c) for t, c in pairs]
        by_case: dict[UUID, list[StoredEvent]] = {}
        for stored in self.store.events_of(ids):
            by_case.setdefault(stored.originator_id, []).append(stored)
        for case_id, stored_events in by_case.items():
            state = _replay(case_id, stored_events)
            if state is not None:
                self._cases.put(state)

    def _remember(self, cases: dict[UUID, CaseState | None]) -> None:
        """Keep the cases as just committed, so the next append needs no read to decide."""
        for case in cases.values():
            if case is not None:
                case.unsaved = 0
                self._cases.put(case)

    def _forget(self, groups: Sequence[AppendGroup]) -> None:
        for group in groups:
            for r in group.requests:
                case_id = case_uuid(r.tenant, r.case)
                # Another process changed the case: it may have erased it, key included.
                self._drop_key(case_id.hex)
                self._cases.evict(case_id)

    def _drop_key(self, hex_id: str) -> None:
        with self._keys_lock:
            self._case_keys.pop(hex_id, None)

    def _load(self, case_id: UUID, loads: _Loads | None = None) -> CaseState | None:
        """A case to decide on: a private copy, fresh from the store unless `loads` allows the
        copy this process cached when it last saved the case.

        A cached copy can only be behind if another process appended to the case since; then
        our event's (case, case_seq) is already taken, the insert fails on the unique key,
        and `commit` retries on fresh state. The one decision that writes nothing, refusing a
        stale `expected_seq`, is re-checked on fresh state (`_prepare_group`).
        """
        if loads is not None and not loads.fresh:
            if case_id in loads.absent:
                return None
            cached = self._cases.get(case_id)
            if cached is not None:
                loads.cached.add(case_id)
                return cached.copy()
        return self._read(case_id)

    def _read(self, case_id: UUID) -> CaseState | None:
        """A private copy of the case as stored now: the cached state brought forward with the
        events stored after it (one query, usually of no row), else replayed from all its
        events. The fresh state is cached: other processes may have appended meanwhile."""
        cached = self._cases.get(case_id)
        state = None if cached is None else cached.copy()
        # The recorder's documented read of one aggregate's events.
        stored = self.store.select_events(case_id, gt=None if state is None else state.version)
        if not stored:
            return state
        state = _replay(case_id, stored, state)
        assert state is not None
        state.unsaved = 0
        self._cases.put(state.copy())
        return state

    def _prepare_group(
        self,
        group: AppendGroup,
        cases: dict[UUID, CaseState | None],
        events: list[CaseEvent],
        batch: AppendBatch,
        now: datetime,
        loads: _Loads,
        recheck: bool = True,
    ) -> GroupResult:
        idem = group.idempotency
        if idem is not None:
            found = self.store.idempotency_record(idem.tenant, idem.key)
            if found is not None:
                if found[0] not in (idem.request_hash, idem.legacy_hash):
                    return IdempotencyConflictError(
                        "this Idempotency-Key was already used with another request body"
                    )
                return Replayed(found[1])
        # Each case as it was before this group: put back if the group fails.
        saved: dict[UUID, CaseState | None] = {}
        local = AppendBatch()
        start = len(events)
        receipts = _Pending(start=start)
        position = 0
        try:
            for position, req in enumerate(group.requests):
                case_id = _case_id(req.tenant, req.case)
                if case_id not in cases:
                    cases[case_id] = self._load(case_id, loads)
                case = cases[case_id]
                if case_id not in saved:
                    saved[case_id] = None if case is None else case.copy()
                event, receipt, opened = self._prepare_one(
                    req, case, case_id, local, now, position, loads
                )
                if opened is not None:
                    cases[case_id] = opened
                events.append(event)
                receipts.append(receipt)
        except Exception as exc:  # this group fails alone: undo what it did to the cases
            del events[start:]
            cases.update(saved)
            stale = [
                case_id for case_id in saved
                if case_id in loads.cached and (c := cases[case_id]) is not None
                and not c.unsaved
            ]
            if recheck and stale:
                # The refusal may come from a cached copy that is behind (a stale
                # expected_seq, a legal hold placed or released, an erasure made by another
                # process): decide again on the case as stored now. Refusals are rare, so
                # this costs nothing on the common path.
                for case_id in stale:
                    loads.cached.discard(case_id)
                    cases[case_id] = self._load(case_id)
                return self._prepare_group(group, cases, events, batch, now, loads, False)
            if isinstance(exc, LedgerError):
                return exc
            if isinstance(exc, _UNAVAILABLE):
                raise  # the database, not this request: the whole commit fails (503)
            return self._group_failure(group, exc, position=position)
        batch.extend(local)
        if idem is not None:
            batch.idempotency.append(
                IdempotencyRecord(
                    idem.tenant, idem.key, idem.request_hash, format_recorded_at(now),
                    start, len(receipts),
                    tuple(dict.fromkeys(_case_id(r.tenant, r.case).hex for r in group.requests)),
                    lambda indices, r=list(receipts), render=idem.render: render(
                        [replace(x, index=i) for x, i in zip(r, indices, strict=True)]
                    ),
                )
            )
        return receipts

    def _prepare_one(
        self,
        req: AppendRequest,
        case: CaseState | None,
        case_id: UUID,
        batch: AppendBatch,
        now: datetime,
        position: int,
        loads: _Loads,
    ) -> tuple[CaseEvent, Receipt, CaseState | None]:
        ev = req.event
        if "retention_class" in ev.data and ev.type != "PersonalDataErased":
            try:
                self.retention.check(ev.data["retention_class"])
            except ValueError as exc:
                raise RetentionClassError(str(exc), position=position) from exc
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
        recorded_at = loads.recorded_at
        fields = {
            "log": self.origin,
            "tenant": req.tenant,
            "case": req.case,
            "occurred_at": ev.occurred_at,
            "recorded_at": recorded_at,
            "source": req.source,
            "data": ev.data,
            "personal": {},
            "evidence": self._evidence(req.tenant, ev.evidence, position),
        }
        try:
            if case is None:
                if ev.personal:
                    fields["personal"] = self._seal_personal(
                        case_id, 1, ev.personal, batch, new=case_id in loads.absent
                    )
                opened: CaseState | None
                opened, event = open_case(case_id, now, **fields)
            else:
                opened = None
                case.check_can_append(ev.type)
                case.check_personal(ev.personal)
                if ev.type in ("LegalHoldPlaced", "LegalHoldReleased"):
                    case.check_hold(ev.type, ev.data["reference"])
                if ev.type == "PersonalDataErased":
                    listed = ev.data.get("fields")
                    case.check_erasure(listed, ev.data.get("override_holds"),
                                       bool(ev.data.get("evidence_destroyed")))
                    batch.erasures.append(
                        Erasure(case_id.hex, seq, None if listed is None else tuple(listed))
                    )
                fields["personal"] = self._seal_personal(case_id, seq, ev.personal, batch)
                event = next_event(case, type=ev.type, timestamp=now, **fields)
        except HoldError as exc:
            raise LegalHoldError(str(exc), position=position) from exc
        except (CaseExistsError, CaseClosedError, ErasedError) as exc:
            raise CaseConflictError(str(exc), position=position) from exc
        # The aggregate's chain head is the leaf hash of the event it just applied: no need
        # to hash the entry once more on the append path.
        head = (opened if opened is not None else case).head
        assert head is not None
        receipt = Receipt(req.case, seq, -1, head.hex(), recorded_at)
        return event, receipt, opened

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

    def _case_key(self, case_id: UUID, batch: AppendBatch, new: bool = False) -> CaseKey:
        hex_id = case_id.hex
        with self._keys_lock:
            key = self._case_keys.get(hex_id)
            if key is not None:
                self._case_keys.move_to_end(hex_id)
                return key
        pending = next((w for c, w in batch.case_keys if c == hex_id), None)
        # A case with no stored event has no key: both are written in one transaction.
        wrapped = pending or (None if new else self.store.case_key(hex_id))
        if wrapped is None:
            key = CaseKey.generate(hex_id)
            batch.case_keys.append((hex_id, self.master.wrap(key)))
            return key  # cached only once committed
        key = self.master.unwrap(hex_id, wrapped)
        if pending is None:
            with self._keys_lock:
                self._case_keys[hex_id] = key
                if len(self._case_keys) > _KEY_CACHE_SIZE:
                    self._case_keys.popitem(last=False)
        return key

    def _seal_personal(
        self, case_id: UUID, seq: int, personal: dict[str, str], batch: AppendBatch,
        new: bool = False,
    ) -> dict[str, str]:
        if not personal:
            return {}
        key = self._case_key(case_id, batch, new)
        commitments: dict[str, str] = {}
        for name, value in personal.items():
            opening = new_opening(value)
            commitments[name] = opening.commitment()
            batch.openings.append(
                SealedOpening(case_id.hex, seq, name, key.seal_opening(seq, name, opening))
            )
        return commitments

    def add_evidence(
        self, tenant: str, data: bytes, media_type: str, *, max_size: int = 25 * 2**20
    ) -> tuple[StoredFile, bool]:
        """Store a file and register it for `tenant`; True if it is new for this tenant."""
        stored = self.files.put([data], max_size=max_size)
        return stored, self.register_evidence(tenant, stored, media_type)

    def register_evidence(self, tenant: str, stored: StoredFile, media_type: str) -> bool:
        return self.store.register_evidence(
            tenant, stored.sha256, media_type, stored.size, format_recorded_at(utc_now())
        )

    # -- reading --------------------------------------------------------------------------
    def case(self, tenant: str, case: str, *, size: int | None = None) -> CaseState | None:
        found = self._load(case_uuid(tenant, case))
        if found is None or size is None:
            return found
        state: CaseState | None = None
        for item in self.case_entries(tenant, case, size=size):
            state = state or CaseState(found.id)
            state.apply_entry(item.entry)
        return state

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

    @property
    def state_path(self) -> Path:
        """The signer state file beside the key (ledger/signer_state.py)."""
        return state_path(self.settings.key_path)

    def verify_state(self) -> None:
        """ForkError unless the stored log still extends the last signed tree head."""
        verify_against_state(self.store, self.key, self.origin, self.state_path)

    def sign_checkpoint(self) -> StoredCheckpoint:
        """Sign the current tree head unless the latest checkpoint already covers it."""
        # Bounded like the database waits: the signer we would queue behind may itself be
        # waiting for a locked database.
        if not self._sign_lock.acquire(timeout=self.settings.lock_timeout):
            raise BusyError(
                f"another checkpoint has been signing for {self.settings.lock_timeout:g} s "
                "(the database is busy); retry"
            )
        try:
            return sign_if_grown(self.store, self.key, self.origin, self.state_path)
        finally:
            self._sign_lock.release()
