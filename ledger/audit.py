"""Whole-log verification (`temoin verify`): recompute everything the database claims.

Every check names its place the way API.md says (`index N`, `case C`, `node L/N`,
`checkpoint size N`). Checks compare each stored value with what its *stored* inputs imply,
so one altered byte is reported once, where it was altered, instead of at every ancestor.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import ledger
from ledger.audit_erasure import ErasureNote, check_erasures
from ledger.audit_scan import (
    ALIGN,
    TOP,
    ScanResult,
    ScanTask,
    Source,
    fast_parse,
    read_message,
    scan,
)
from ledger.canonical import CanonicalError, strict_loads
from ledger.checkpoint import Checkpoint
from ledger.checks import Check, Verdict
from ledger.domain import case_uuid
from ledger.merkle import (
    NodeID,
    ProofError,
    append_leaves,
    consistency_plan,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_frontier,
    verify_consistency,
)
from ledger.signing import CheckpointError, Verifier, verify_checkpoint
from ledger.store.base import StoredCheckpoint
from ledger.store.migrations.v4 import log_range
from ledger.store.protocols import Store
from ledger.vault import MasterKey, VaultError, check_opening

Progress = Callable[[int, int], None]
_CHUNK = 4096
# Below this many entries the fast pass runs in this process: starting worker processes
# (~0.2 s) would cost more than the second core saves.
_PARALLEL_FROM = 50_000


@dataclass
class LogReport(Verdict):
    """The log's checks (ledger/checks.py). Only what fails is recorded: a log holds millions
    of leaves, each checked many ways."""

    tree_size: int = 0
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    openings: int = 0
    evidence_files: int = 0
    erasures: list[ErasureNote] = field(default_factory=list)  # not anomalies: facts
    # "fast" when the parallel pass (ledger.audit_scan) proved the log clean, "exact" when
    # the serial pass, which names every anomaly, ran (the fast pass found something).
    method: str = "exact"

    @property
    def anomalies(self) -> list[Check]:
        return self.failures

    def add(self, place: str, problem: str) -> None:
        self.failed(place, problem)


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
    store: Store,
    verifier: Verifier,
    *,
    master: MasterKey | None = None,
    evidence_dir: Path | None = None,
    progress: Progress | None = None,
    aggregate_id: Callable[[str, str], UUID] = case_uuid,
    workers: int | None = None,
) -> LogReport:
    """Verify one log; `aggregate_id` maps (tenant, case) to the id its events are stored under
    (`case_uuid` for the case log, `trail_uuid` for the access journal).

    A fast pass (`ledger.audit_scan`, `workers` processes, by default one per core for big
    logs) first tries to prove the log clean; if it finds anything at all, the exact serial
    pass runs and names every anomaly. Both make the same checks: the fast one only cannot
    word what it finds.
    """
    # Checkpoints first: one signed after the size was read could be beyond it. Everything
    # appended after this point is left to the next verification.
    checkpoints = store.checkpoints()
    size = store.tree_size()
    report = _fast_pass(store, verifier, size, checkpoints, master, aggregate_id, workers,
                        progress)
    if report is None:
        report = _exact_pass(store, verifier, size, checkpoints, master, progress, aggregate_id)
    report.erasures, left = check_erasures(store, size)
    report.checks += left
    if evidence_dir is not None:
        destroyed = {sha for e in report.erasures for sha in e.evidence_destroyed}
        _check_evidence(store, evidence_dir, report, destroyed)
    return report


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _tasks(store: Store, size: int, checkpoints: list[StoredCheckpoint],
           master: MasterKey | None, aggregate_id: Callable[[str, str], UUID],
           count: int) -> list[ScanTask] | None:
    """One task per worker: an aligned share of the leaf indices (the tree) and a share of
    the aggregate id space (the entries and openings, whole cases each)."""
    connect = store.audit_connect()
    if connect is None:
        return None
    source = Source(connect[0], connect[1], store.leaves_table, store.nodes_table,
                    store.events_table_name, store.log_id, store.shares_tables())
    cuts = [0]
    for i in range(1, count):
        cuts.append(max(cuts[-1], min(size, round(size * i / count / ALIGN) * ALIGN)))
    cuts.append(size)
    # A case's number is the entry key of its first event: cutting the leaf indices cuts
    # the cases (those opened after `size` go to the last worker, which skips them).
    lo, hi = log_range(store.log_id)
    ids = [lo, *(lo + cuts[i] for i in range(1, count)), hi]
    wanted = sorted({cp.size for cp in checkpoints if 0 < cp.size <= size})
    return [
        ScanTask(
            source=source, size=size, tree=(cuts[i], cuts[i + 1]), ids=(ids[i], ids[i + 1]),
            sizes=tuple(m for m in wanted if cuts[i] < m <= cuts[i + 1]),
            aggregate_id=aggregate_id, master=None if master is None else master.key,
        )
        for i in range(count)
    ]


def _run_workers(tasks: list[ScanTask], size: int,
                 progress: Progress | None) -> list[ScanResult]:
    """Each task in its own process (`python -m ledger.audit_scan`), results in task order."""
    env = dict(os.environ)
    # The children must import this very package, wherever it was imported from.
    root = str(Path(ledger.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    procs = [
        subprocess.Popen([sys.executable, "-m", "ledger.audit_scan"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=env)
        for _ in tasks
    ]
    messages: queue.Queue[tuple[int, tuple[str, Any] | None]] = queue.Queue()

    def pump(i: int, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        try:
            while (message := read_message(proc.stdout)) is not None:
                messages.put((i, message))
        except Exception as exc:  # a garbled stream: reported like a worker's error
            messages.put((i, ("error", f"{type(exc).__name__}: {exc}")))
        finally:
            messages.put((i, None))

    readers = []
    for i, (proc, task) in enumerate(zip(procs, tasks, strict=True)):
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        proc.stdin.close()
        thread = threading.Thread(target=pump, args=(i, proc), daemon=True)
        thread.start()
        readers.append(thread)
    results: list[ScanResult | None] = [None] * len(tasks)
    errors: list[str] = []
    done, open_streams = 0, len(tasks)
    try:
        while open_streams:
            i, message = messages.get()
            if message is None:
                open_streams -= 1
            elif message[0] == "progress":
                done += message[1]
                if progress is not None:
                    progress(min(done, size), size)
            elif message[0] == "result":
                results[i] = message[1]
            else:
                errors.append(str(message[1]))
    finally:
        for proc in procs:
            if proc.wait() != 0 and not errors:
                errors.append(f"verification worker exited with status {proc.returncode}")
        for thread in readers:
            thread.join()
    if errors or any(r is None for r in results):
        raise RuntimeError(f"parallel verification failed: {'; '.join(errors)}")
    return [r for r in results if r is not None]


def _fast_pass(
    store: Store,
    verifier: Verifier,
    size: int,
    checkpoints: list[StoredCheckpoint],
    master: MasterKey | None,
    aggregate_id: Callable[[str, str], UUID],
    workers: int | None,
    progress: Progress | None,
) -> LogReport | None:
    """The report of a clean log, from the parallel pass; None when the exact pass must run
    (the fast pass found something, or cannot reach the database from another process)."""
    count = workers if workers is not None else (_workers() if size >= _PARALLEL_FROM else 1)
    try:
        pickle.dumps(aggregate_id)
    except (pickle.PicklingError, AttributeError, TypeError):
        count = 1  # a local function cannot be sent to a worker process
    tasks = _tasks(store, size, checkpoints, master, aggregate_id, max(1, count))
    if tasks is None:
        return None
    if len(tasks) == 1:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(min(done[0], size), size)

        results = [scan(tasks[0], step)]
    else:
        results = _run_workers(tasks, size, progress)
    if not all(r.clean for r in results) or sum(r.entries for r in results) != size:
        return None
    # Levels above TOP, from every worker's level-TOP hashes, compared with the stored ones;
    # then no stored node may be left over (each expected one was found once, by its key).
    computed: dict[NodeID, bytes] = {}
    level = [h for r in results for h in r.top]
    lv = TOP
    while level:
        computed.update((NodeID(lv, i), h) for i, h in enumerate(level))
        lv += 1
        level = [node_hash(x, y) for x, y in zip(level[::2], level[1::2], strict=False)]
        if level and store.audit_level(lv, size) != level:
            return None
    if store.audit_node_count(size) != size - size.bit_count() or store.nodes_beyond_leaves():
        return None
    roots: dict[int, bytes] = {}
    if any(cp.size == 0 for cp in checkpoints):
        roots[0] = root_from_frontier([])
    lows = {m: f for r in results for m, f in r.frontiers.items()}
    for m, low in lows.items():
        high = [computed[node] for node in range_nodes(0, m - m % ALIGN)]
        roots[m] = root_from_frontier(high + [h for _, _, h in low])
    report = LogReport(tree_size=size, entries=size, nodes=size - size.bit_count(),
                       openings=sum(r.openings for r in results), method="fast")
    _check_checkpoints(store, verifier, checkpoints, roots, size, True, report)
    if progress is not None:
        progress(size, size)
    return report


def _exact_pass(
    store: Store,
    verifier: Verifier,
    tree_size: int,
    checkpoints: list[StoredCheckpoint],
    master: MasterKey | None,
    progress: Progress | None,
    aggregate_id: Callable[[str, str], UUID],
) -> LogReport:
    """The serial pass: every check in the log's index order, every anomaly at its place."""
    report = LogReport(tree_size=tree_size)
    sizes = {cp.size for cp in checkpoints}
    roots: dict[int, bytes] = {}
    personal: dict[tuple[str, int], tuple[str, dict[str, str]]] = {}
    nodes = _NodeChecker(store.iter_nodes_in_creation_order(tree_size), report)
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
    for index, stored_leaf, originator_id, version, raw in store.iter_leaf_tuples(0, tree_size):
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
            if sha256(b"\x00" + raw).digest() != stored_leaf:
                report.add(
                    f"index {index}",
                    f"entry bytes hash to {leaf_hash(raw).hex()} but the leaf "
                    f"hash is {stored_leaf.hex()}: the entry was altered",
                )
            _check_entry(index, raw, stored_leaf, oid, version, cases, personal, report,
                         aggregate_id)
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
    # Nodes past the verified size belong to appends made since, unless no leaf supports them.
    for level, index in store.nodes_beyond_leaves():
        report.add(f"node {NodeID(level, index)}", "unexpected: no such subtree in the log's tree")

    for case_id, version, state in store.iter_events_without_leaf():
        name = _case_name(state) or case_id
        report.add(
            f"case {name}",
            f"event version {version} is stored but is not in the log (no leaf): forged or "
            f"half-written",
        )

    _check_checkpoints(store, verifier, checkpoints, roots, size, tree_intact, report)
    if master is not None:
        # Entries appended since the size was read may have sealed openings already: they
        # are left for the next verification, like their entries (an opening with no entry
        # anywhere is still reported).
        later = {
            (oid if type(oid) is str else _hex(oid), version)
            for _i, _h, oid, version, _raw in store.iter_leaf_tuples(tree_size)
        }
        _check_openings(store, master, personal, report, later)
    return report


def _case_name(state: bytes) -> str | None:
    try:
        obj = strict_loads(state)
    except CanonicalError:
        return None
    return obj.get("case") if isinstance(obj, dict) and isinstance(obj.get("case"), str) else None


def _hex(originator_id: Any) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(str(originator_id)).hex


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
) -> None:
    """Everything about one entry but its leaf hash (checked by the caller)."""
    place = f"index {index}"
    try:
        # parse_canonical's semantics (ledger.audit_scan.fast_parse is its fast form):
        # duplicate keys, floats, white space, key order, lone surrogates are all refused.
        obj: Any = fast_parse(raw)
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
    store: Store,
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
    store: Store,
    master: MasterKey,
    personal: dict[tuple[str, int], tuple[str, dict[str, str]]],
    report: LogReport,
    later: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
) -> None:
    keys: dict[str, Any] = {}
    # Openings come by case, each with its wrapped key: one unwrap per case, no query per case.
    for case_id, seq, field_name, sealed, wrapped in store.iter_openings_with_keys():
        if (case_id, seq) in later:
            continue
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


def _check_evidence(store: Store, evidence_dir: Path, report: LogReport,
                    destroyed: set[str] | frozenset[str] = frozenset()) -> None:
    # Files a retention entry destroyed are gone on purpose (the entry says so); one still
    # there is not an anomaly either: the next run deletes it.
    seen: set[str] = set(destroyed)
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
