"""Runs the read-side projections over the log: the case index and the timeline rows.

The projections follow the leaf order of the log and remember the next leaf index to process
(their *position*) in the same transaction as their rows. Restarting resumes from the position;
`rebuild()` drops everything and replays from index 0, and must give the same rows.

Each log of a database has its own projections (schema version 3): `ProjectionRunner` works on
the store of one log; `EveryLogRunner` runs one per log of the database (the server's follower).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from ledger.entry import FIELDS_V1, FORMAT_V1, Entry, parse_entry
from ledger.errors import StoreError
from ledger.store.projection_tables import CaseIndexRow, TimelineRow
from ledger.store.protocols import ProjectionSource
from projections.timeline import timeline_row

log = logging.getLogger("temoin.projections")

NAME = "read-model/v1"
CHUNK = 5000
Progress = Callable[[int, int], None]


def _json(obj: object) -> str:
    # The canonical encoding (sorted keys, no white space, UTF-8 kept): orjson writes the same
    # text as json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) ~10x faster.
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


_HEX = frozenset("0123456789abcdef")
_TEXT_FIELDS = ("log", "tenant", "case", "type", "occurred_at", "recorded_at", "source")


def _entry(raw: bytes) -> Entry:
    """parse_entry for the log's own bytes, without its cost of re-encoding to prove them
    canonical with the json module (half of a rebuild's time in the profile).

    orjson parses; encoding the result back with sorted keys and getting the same bytes
    proves them canonical, and the v1 shape is checked as parse_entry checks it. Anything
    else (including floats, which orjson would accept) is left to parse_entry, whose error
    names the problem.
    """
    try:
        obj: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return parse_entry(raw)
    if (
        type(obj) is not dict
        or obj.keys() != FIELDS_V1
        or obj["format"] != FORMAT_V1
        or type(obj["case_seq"]) is not int
        or obj["case_seq"] < 1
        or not (obj["prev"] is None or (
            type(obj["prev"]) is str and len(obj["prev"]) == 64 and _HEX.issuperset(obj["prev"])
        ))
        or any(type(obj[name]) is not str for name in _TEXT_FIELDS)
        or type(obj["data"]) is not dict
        or type(obj["personal"]) is not dict
        or type(obj["evidence"]) is not list
        or _has_float(obj["data"])
        or orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) != raw
    ):
        return parse_entry(raw)
    return _Parsed(obj)  # type: ignore[return-value]


class _Parsed:
    """What the projections read of an Entry, without a frozen dataclass's slow __init__."""

    __slots__ = ("case", "case_seq", "data", "evidence", "occurred_at", "personal",
                 "recorded_at", "source", "tenant", "type")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.tenant = obj["tenant"]
        self.case = obj["case"]
        self.case_seq = obj["case_seq"]
        self.type = obj["type"]
        self.occurred_at = obj["occurred_at"]
        self.recorded_at = obj["recorded_at"]
        self.source = obj["source"]
        self.data = obj["data"]
        self.personal = obj["personal"]
        self.evidence = obj["evidence"]


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return True
    if kind is dict:
        return any(_has_float(v) for v in value.values())
    if kind is list:
        return any(_has_float(v) for v in value)
    return False


class ProjectionRunner:
    def __init__(self, store: ProjectionSource, *, chunk: int = CHUNK) -> None:
        self.store = store
        self.chunk = chunk

    def position(self) -> int:
        return self.store.projection_position(NAME)

    def run_once(self) -> int:
        """Apply at most one chunk; returns how many entries it applied (0: caught up)."""
        while True:
            applied = self._apply_chunk()
            if applied is not None:
                return applied
            # Another runner applied a chunk from the same position first. It may have read
            # the log before our last entries were appended, so it is no proof that we are
            # caught up (a GET right after a 201 missed the case's closure): go on from
            # where it stopped. It moved the position, so this loop always progresses.

    def _apply_chunk(self) -> int | None:
        """Entries applied, 0 when caught up, None when another runner won this chunk."""
        start = self.position()
        cases: dict[tuple[str, str], CaseIndexRow] = {}
        timeline: list[TimelineRow] = []
        end = start
        for index, leaf, _id, _version, raw in self.store.iter_leaf_tuples(
            start, start + self.chunk
        ):
            if index != end:
                raise StoreError(f"projection stops before index {end}: the leaf is missing")
            if raw is None:
                raise StoreError(f"projection stops at index {index}: its entry is missing")
            entry = _entry(bytes(raw))
            key = (entry.tenant, entry.case)
            delta = cases.get(key)
            if delta is None:
                delta = cases[key] = CaseIndexRow(entry.tenant, entry.case, None, 0, 0, None, None,
                                                index, index)
            delta.entries += 1
            delta.last_seq = entry.case_seq
            delta.last_index = index
            if entry.type == "CaseOpened":
                delta.status, delta.opened_at = "open", entry.occurred_at
            elif entry.type == "CaseClosed":
                delta.status, delta.closed_at = "closed", entry.occurred_at
            timeline.append(TimelineRow(
                index, entry.tenant, entry.case, entry.case_seq,
                _json(timeline_row(index, bytes(leaf), entry)),
            ))
            end = index + 1
        if end == start:
            return 0
        rows = list(cases.values())
        if not self.store.save_projection(NAME, start, end, rows, timeline):
            return None
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


class LogStoreSource(Protocol):
    """The stores of a database's logs (`ledger.log_stores.LogStores`)."""

    def log_ids(self) -> list[int]: ...

    def store(self, log_id: int) -> ProjectionSource: ...


class EveryLogRunner:
    """One `ProjectionRunner` per log of the database, the logs listed again at every round
    (a log created while the server runs is followed from the next round on)."""

    def __init__(self, stores: LogStoreSource, *, chunk: int = CHUNK) -> None:
        self.stores = stores
        self.chunk = chunk
        self._runners: dict[int, ProjectionRunner] = {}

    def runner(self, log_id: int) -> ProjectionRunner:
        # The store is asked for each time: the server's own store of a log replaces the one
        # opened for it before the server started it (ledger/log_stores.py).
        store = self.stores.store(log_id)
        found = self._runners.get(log_id)
        if found is None or found.store is not store:
            found = self._runners[log_id] = ProjectionRunner(store, chunk=self.chunk)
        return found

    def run_once(self) -> int:
        """At most one chunk of each log; entries applied in all (0: every log caught up).

        A log that fails (its entry unreadable, its store unreachable) does not hold the
        others back: they are run, then the first failure is raised, for the caller to log."""
        applied, failure = 0, None
        for log_id in self.stores.log_ids():
            try:
                applied += self.runner(log_id).run_once()
            except Exception as exc:
                failure = failure or exc
                log.debug("projection of log %d failed: %s", log_id, exc)
        if failure is not None:
            raise failure
        return applied

    def catch_up(self) -> int:
        done = 0
        while applied := self.run_once():
            done += applied
        return done
