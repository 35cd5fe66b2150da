"""Whole-log verification (`temoin verify`): recompute everything the database claims.

Every check names its place the way API.md says (`index N`, `case C`, `node L/N`,
`checkpoint size N`). Checks compare each stored value with what its *stored* inputs imply,
so one altered byte is reported once, where it was altered, instead of at every ancestor.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from ledger.canonical import CanonicalError, strict_loads
from ledger.checkpoint import Checkpoint
from ledger.domain import case_uuid
from ledger.merkle import (
    NodeID,
    ProofError,
    append_leaves,
    consistency_plan,
    leaf_hash,
    root_from_frontier,
    verify_consistency,
)
from ledger.signing import CheckpointError, Verifier, verify_checkpoint
from ledger.store.base import MerkleStore, StoredCheckpoint
from ledger.vault import MasterKey, VaultError, check_opening

Progress = Callable[[int, int], None]
_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Anomaly:
    place: str
    problem: str

    def __str__(self) -> str:
        return f"{self.place}: {self.problem}"


@dataclass
class LogReport:
    tree_size: int = 0
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    openings: int = 0
    evidence_files: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def add(self, place: str, problem: str) -> None:
        self.anomalies.append(Anomaly(place, problem))


@dataclass(slots=True)
class _CaseHead:
    seq: int
    head: bytes
    id_hex: str  # the aggregate id the case's events are stored under


class _NodeChecker:
    """Merges recomputed interior nodes with the stored ones, both in creation order."""

    def __init__(self, stored: Iterator[tuple[int, int, bytes]], report: LogReport) -> None:
        self._stored = stored
        self._next: tuple[int, int, bytes] | None = next(stored, None)
        self._report = report

    @staticmethod
    def _key(level: int, index: int) -> tuple[int, int]:
        return ((index + 1) << level, level)

    def check(self, node: NodeID, computed: bytes) -> None:
        want = self._key(node.level, node.index)
        while self._next is not None and self._key(self._next[0], self._next[1]) < want:
            self._unexpected(self._next)
            self._next = next(self._stored, None)
        if self._next is None or self._key(self._next[0], self._next[1]) != want:
            self._report.add(f"node {node}", "missing: no stored hash for this complete subtree")
            return
        stored = self._next[2]
        self._report.nodes += 1
        if stored != computed:
            self._report.add(
                f"node {node}",
                f"stored hash {stored.hex()} differs from the hash of its stored children "
                f"{computed.hex()}",
            )
        self._next = next(self._stored, None)

    def check_many(self, created: list[tuple[NodeID, bytes]]) -> None:
        """Check the interior nodes one append created, children before parents.

        Fast path: when the next stored rows are exactly these nodes, one list comparison
        checks them all; any difference falls back to the node-by-node merge that names it.
        """
        computed = [(n[0], n[1], h) for n, h in created if n[0]]
        if not computed:
            return
        stored: list[tuple[int, int, bytes]] = []
        if self._next is not None:
            stored.append(self._next)
            stored.extend(itertools.islice(self._stored, len(computed) - 1))
        if stored == computed:
            self._report.nodes += len(computed)
            self._next = next(self._stored, None)
            return
        if stored:  # put them back and go slowly
            self._stored = itertools.chain(stored[1:], self._stored)
            self._next = stored[0]
        for level, index, h in computed:
            self.check(NodeID(level, index), h)

    def _unexpected(self, row: tuple[int, int, bytes]) -> None:
        self._report.add(
            f"node {NodeID(row[0], row[1])}", "unexpected: no such subtree in the log's tree"
        )

    def finish(self) -> None:
        while self._next is not None:
            self._unexpected(self._next)
            self._next = next(self._stored, None)


def verify_log(
    store: MerkleStore,
    verifier: Verifier,
    *,
    master: MasterKey | None = None,
    evidence_dir: Path | None = None,
    progress: Progress | None = None,
    aggregate_id: Callable[[str, str], UUID] = case_uuid,
) -> LogReport:
    """Verify one log; `aggregate_id` maps (tenant, case) to the id its events are stored under
    (`case_uuid` for the case log, `trail_uuid` for the access journal)."""
    report = LogReport(tree_size=store.tree_size())
    checkpoints = store.checkpoints()
    sizes = {cp.size for cp in checkpoints}
    roots: dict[int, bytes] = {}
    personal: dict[tuple[str, int], tuple[str, dict[str, str]]] = {}
    nodes = _NodeChecker(store.iter_nodes_in_creation_order(), report)
    if 0 in sizes:
        roots[0] = root_from_frontier([])

    cases: dict[tuple[str, str], _CaseHead] = {}
    size, frontier, pending = 0, [], []
    tree_intact = True

    def flush() -> None:
        nonlocal size, frontier, pending
        if not pending:
            return
        new, frontier = append_leaves(size, frontier, pending, leaves=False)
        nodes.check_many(new)
        size += len(pending)
        pending = []
        if size in sizes:
            roots[size] = root_from_frontier(frontier)

    sha256 = hashlib.sha256
    # Rows come as the driver gives them (ids as hex text or UUID, blobs as bytes): no
    # per-row object is built on the way; this loop is what `temoin verify` spends its time in.
    for index, stored_leaf, originator_id, version, raw in store.iter_leaf_tuples():
        if index != size + len(pending):
            report.add(
                f"index {size + len(pending)}",
                f"missing leaf: the next stored leaf is index {index}; the tree above it "
                f"cannot be checked",
            )
            tree_intact = False
            break
        report.entries += 1
        stored_leaf = bytes(stored_leaf)
        oid = originator_id if type(originator_id) is str else _hex(originator_id)
        if raw is None:
            report.add(
                f"index {index}",
                f"entry missing: no stored event {oid} version {version}",
            )
        else:
            raw = bytes(raw)
            altered = sha256(b"\x00" + raw).digest() != stored_leaf
            if altered:
                report.add(
                    f"index {index}",
                    f"entry bytes hash to {leaf_hash(raw).hex()} but the leaf "
                    f"hash is {stored_leaf.hex()}: the entry was altered",
                )
            _check_entry(index, raw, stored_leaf, oid, version, cases, personal, report,
                         aggregate_id, altered)
        pending.append(stored_leaf)
        if len(pending) >= _CHUNK or (size + len(pending)) in sizes:
            flush()
            if progress is not None:
                progress(size, report.tree_size)
    flush()
    if progress is not None:
        progress(size, report.tree_size)
    if tree_intact:
        nodes.finish()

    for case_id, version, state in store.iter_events_without_leaf():
        name = _case_name(state) or case_id
        report.add(
            f"case {name}",
            f"event version {version} is stored but is not in the log (no leaf): forged or "
            f"half-written",
        )

    _check_checkpoints(store, verifier, checkpoints, roots, size, tree_intact, report)
    if master is not None:
        _check_openings(store, master, personal, report)
    if evidence_dir is not None:
        _check_evidence(store, evidence_dir, report)
    return report


def _case_name(state: bytes) -> str | None:
    try:
        obj = strict_loads(state)
    except CanonicalError:
        return None
    return obj.get("case") if isinstance(obj, dict) and isinstance(obj.get("case"), str) else None


def _hex(originator_id: Any) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(str(originator_id)).hex


def _parse(raw: bytes, strict: bool) -> Any:
    """The entry as strict_loads reads it; fast for the bytes the log committed to.

    orjson keeps the last of duplicate keys and accepts floats. Re-encoding its result
    canonically and getting the same bytes back rules out duplicate keys (and any other
    non-canonical form); floats are only looked for (`strict`) in entries whose leaf hash
    does not match: in the others, the leaf hash binds the bytes the append path encoded, and
    it refuses floats. Whatever the fast path does not accept goes through strict_loads,
    whose error message the report shows.
    """
    if not strict:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) == raw:
                return obj
    return strict_loads(raw)


def _check_entry(
    index: int,
    raw: bytes,
    stored_leaf: bytes,
    originator_id: str,
    version: int,
    cases: dict[tuple[str, str], _CaseHead],
    personal: dict[tuple[str, int], tuple[str, dict[str, str]]],
    report: LogReport,
    aggregate_id: Callable[[str, str], UUID],
    altered: bool = False,
) -> None:
    """Everything about one entry but its leaf hash (checked by the caller: `altered`)."""
    place = f"index {index}"
    try:
        obj: Any = _parse(raw, strict=altered)
        tenant, case, seq, prev = obj["tenant"], obj["case"], obj["case_seq"], obj["prev"]
    except (CanonicalError, KeyError, TypeError) as exc:
        report.add(place, f"entry is not a readable temoin.entry/v1 object: {exc}")
        return
    if not (isinstance(tenant, str) and isinstance(case, str) and isinstance(seq, int)):
        report.add(place, "entry lacks tenant, case or case_seq")
        return
    key = (tenant, case)
    head = cases.get(key)
    want_id = aggregate_id(tenant, case).hex if head is None else head.id_hex
    if want_id != originator_id or seq != version:
        report.add(
            place,
            f"entry says case {case!r} case_seq {seq}, but it is stored as event "
            f"{originator_id} version {version}",
        )
    if head is None:
        want_seq, want_prev = 1, None
    else:
        want_seq, want_prev = head.seq + 1, head.head.hex()
    if seq != want_seq:
        report.add(f"case {case}", f"case_seq {seq} at index {index}, expected {want_seq}")
    if prev != want_prev:
        report.add(
            f"case {case}",
            f"prev at case_seq {seq} (index {index}) is {prev}, expected {want_prev}",
        )
    if head is None:
        cases[key] = _CaseHead(seq, stored_leaf, want_id)
    else:
        head.seq, head.head = seq, stored_leaf
    commitments = obj.get("personal")
    if isinstance(commitments, dict) and commitments:
        personal[(originator_id, seq)] = (case, commitments)


def _check_checkpoints(
    store: MerkleStore,
    verifier: Verifier,
    checkpoints: list[StoredCheckpoint],
    roots: dict[int, bytes],
    size: int,
    tree_intact: bool,
    report: LogReport,
) -> None:
    signed: list[Checkpoint] = []
    for cp in checkpoints:
        place = f"checkpoint size {cp.size}"
        report.checkpoints += 1
        try:
            parsed = verify_checkpoint(cp.note, verifier)
        except CheckpointError as exc:
            report.add(place, f"signature does not verify with {verifier.name}: {exc}")
            continue
        if parsed.size != cp.size or parsed.root != cp.root:
            report.add(
                place,
                f"stored columns (size {cp.size}, root {cp.root.hex()}) differ from the signed "
                f"note (size {parsed.size}, root {parsed.root.hex()})",
            )
        if parsed.size > size:
            report.add(place, f"signs a tree of size {parsed.size} but the log has {size} leaves")
            continue
        if tree_intact and parsed.size in roots and roots[parsed.size] != parsed.root:
            report.add(
                place,
                f"signed root {parsed.root.hex()} differs from the log's root at that size "
                f"{roots[parsed.size].hex()}",
            )
            continue
        signed.append(parsed)
    for older, newer in itertools.pairwise(signed):
        if older.size == 0:
            continue
        try:
            proof = store.proof(consistency_plan(older.size, newer.size))
            verify_consistency(older.size, newer.size, older.root, newer.root, proof)
        except (ProofError, KeyError, ValueError) as exc:
            report.add(
                f"checkpoint size {newer.size}",
                f"not consistent with checkpoint size {older.size}: {exc}",
            )


def _check_openings(
    store: MerkleStore,
    master: MasterKey,
    personal: dict[tuple[str, int], tuple[str, dict[str, str]]],
    report: LogReport,
) -> None:
    keys: dict[str, Any] = {}
    # Openings come by case, each with its wrapped key: one unwrap per case, no query per case.
    for case_id, seq, field_name, sealed, wrapped in store.iter_openings_with_keys():
        case, commitments = personal.get((case_id, seq), (case_id, {}))
        place = f"case {case}"
        if case_id not in keys:
            keys.clear()  # ordered by case: the previous case's key is no longer needed
            try:
                keys[case_id] = None if wrapped is None else master.unwrap(case_id, wrapped)
            except VaultError as exc:
                report.add(place, f"case data key cannot be unwrapped: {exc}")
                keys[case_id] = None
        key = keys[case_id]
        if key is None:
            continue  # erased (crypto-shredded): the commitment stays, the value is gone
        report.openings += 1
        try:
            opening = key.open_opening(seq, field_name, sealed)
        except VaultError as exc:
            report.add(place, f"sealed {field_name} at case_seq {seq} cannot be opened: {exc}")
            continue
        if field_name not in commitments:
            report.add(place, f"vault holds {field_name} at case_seq {seq} but the entry does not")
            continue
        try:
            check_opening(opening, commitments[field_name])
        except ValueError as exc:
            report.add(place, f"{field_name} at case_seq {seq}: {exc}")


def _check_evidence(store: MerkleStore, evidence_dir: Path, report: LogReport) -> None:
    seen: set[str] = set()
    for _tenant, sha256, _media_type, size in store.all_evidence():
        if sha256 in seen:
            continue
        seen.add(sha256)
        report.evidence_files += 1
        path = evidence_dir / sha256
        place = f"evidence {sha256}"
        if not path.is_file():
            report.add(place, f"file missing from {evidence_dir}")
            continue
        digest = hashlib.sha256()
        length = 0
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                length += len(chunk)
        if digest.hexdigest() != sha256 or length != size:
            report.add(
                place, f"file content hashes to {digest.hexdigest()} ({length} bytes): altered"
            )
