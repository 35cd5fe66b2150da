"""A case file: one case as it stands at one tree size, read once.

The timeline, the integrity report (JSON and PDF) and the evidence bundle are all built from
one `CaseFile`, so a bundle download reads the case's entries once, plans every inclusion and
consistency proof it needs together and fetches their nodes in one query, and hashes each
evidence file once. The file is a snapshot: nothing in it changes after it is read, and
nothing reads the database after it.

The number of queries does not depend on the number of entries (tests/test_case_file.py
counts them): the leaves, the tree size, the time of the last leaf, the checkpoint history,
the proof nodes (one query per `NODES_PER_QUERY` distinct nodes), the attestations, and the
vault's key and openings when asked for.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.domain import case_uuid
from ledger.entry import parse_entry
from ledger.ledger import CaseEntry, Ledger
from ledger.merkle.plan import NodeID, Plan, consistency_plan, inclusion_plan
from ledger.signing import CheckpointError, verify_checkpoint
from ledger.store.attestations import Attestation
from ledger.store.base import StoredCheckpoint
from ledger.vault import Opening

# SQLite parses a chain of OR terms as a tree one level deep per term and refuses trees
# deeper than 1,000: a case file of a few hundred entries still fits in one query.
NODES_PER_QUERY = 500
# Files up to this size are kept in memory once read and hashed, so that the report's check,
# the PDFs' thumbnails and the bundle member all use those very bytes (hashed once). Larger
# ones are streamed, and the bundle writer hashes what it copies.
KEEP_IN_MEMORY = 1 << 20
# The report shows at most this many checkpoints of the case's history (the latest ones).
MAX_HISTORY = 50


@dataclass(frozen=True, slots=True)
class EvidenceState:
    """An evidence file as found on disk when the case file was read."""

    sha256: str  # the name the entries give it
    size: int | None  # None: missing
    found: str | None  # its SHA-256 as read; None: missing or unreadable
    path: Path
    data: bytes | None = None  # the bytes that hashed to `found`, for files ≤ KEEP_IN_MEMORY

    @property
    def sound(self) -> bool:
        return self.found == self.sha256


@dataclass(frozen=True, slots=True)
class CaseFile:
    """One case of one tenant with every entry of index < `size`, in index order.

    With a `checkpoint`, `size` is its size and `proofs` holds every entry's inclusion proof
    against it; `consistency` the proofs between consecutive checkpoints of `history`.
    """

    origin: str
    verifier_key: str
    tenant: str
    case: str
    size: int
    tree_size: int
    entries: tuple[CaseEntry, ...]
    checkpoint: StoredCheckpoint | None = None
    proofs: Mapping[int, tuple[bytes, ...]] = field(default_factory=dict)
    history: tuple[StoredCheckpoint, ...] = ()
    consistency: Mapping[tuple[int, int], tuple[bytes, ...]] = field(default_factory=dict)
    attestations: tuple[Attestation, ...] = ()
    openings: Mapping[int, Mapping[str, Opening]] | None = None  # by case_seq; None: not read
    evidence: Mapping[str, EvidenceState] = field(default_factory=dict)
    last_recorded_at: str | None = None  # the recorded_at of leaf size-1, the log's clock then

    def index_of_seq(self) -> dict[int, int]:
        return {e.entry.case_seq: e.index for e in self.entries}

    def evidence_bytes(self, sha256: str) -> bytes | None:
        """The bytes of a sound evidence file small enough to have been kept, else None."""
        state = self.evidence.get(sha256)
        return state.data if state is not None and state.sound else None


def read_case_file(
    ledger: Ledger,
    tenant: str,
    case: str,
    *,
    checkpoint: StoredCheckpoint | None = None,
    size: int | None = None,
    openings: bool = False,
    evidence: bool = False,
) -> CaseFile:
    """Read a case as of `checkpoint` (with its proofs), or as of tree size `size` (default:
    the whole log, without proofs). An unknown case gives a file without entries.

    `openings`: also read the personal openings (for the report's checks and for readers
    entitled to them). `evidence`: also read and hash each referenced evidence file once.
    """
    store = ledger.store
    tree_size = store.tree_size()
    if checkpoint is not None:
        size = checkpoint.size
    as_of = tree_size if size is None else size
    rows = store.case_leaves(case_uuid(tenant, case), below=as_of)
    entries = tuple(CaseEntry(r.index, r.leaf_hash, parse_entry(r.entry))
                    for r in rows if r.entry is not None and r.index >= 0)
    last = None
    if size is not None and size > 0 and entries:
        row = store.leaf(size - 1)
        if row is not None and row.entry is not None:
            last = parse_entry(row.entry).recorded_at
    file = CaseFile(origin=ledger.origin, verifier_key=ledger.key.verifier_key, tenant=tenant,
                    case=case, size=as_of, tree_size=tree_size, entries=entries,
                    checkpoint=checkpoint, last_recorded_at=last)
    if not entries:
        return file
    proofs: dict[int, tuple[bytes, ...]] = {}
    history: list[StoredCheckpoint] = []
    consistency: dict[tuple[int, int], tuple[bytes, ...]] = {}
    attestations: tuple[Attestation, ...] = ()
    if checkpoint is not None:
        history = [c for c in store.checkpoints(after=entries[0].index)
                   if c.size <= checkpoint.size][-MAX_HISTORY:]
        plans = {e.index: inclusion_plan(e.index, checkpoint.size) for e in entries}
        # Between consecutive checkpoints whose signature holds, as the report checks them.
        verifier = ledger.key.verifier()
        valid = [c for c in history if _signed(c, verifier)]
        pairs = {(a.size, b.size): consistency_plan(a.size, b.size)
                 for a, b in itertools.pairwise(valid)}
        nodes = _read_nodes(ledger, [*plans.values(), *pairs.values()])
        proofs = {i: tuple(_assemble(p, nodes)) for i, p in plans.items()}
        consistency = {k: tuple(_assemble(p, nodes)) for k, p in pairs.items()}
        attestations = tuple(store.attestations(checkpoint.size))
    return CaseFile(
        origin=file.origin, verifier_key=file.verifier_key, tenant=tenant, case=case,
        size=as_of, tree_size=tree_size, entries=entries, checkpoint=checkpoint,
        proofs=proofs, history=tuple(history), consistency=consistency,
        attestations=attestations,
        openings=ledger.openings(tenant, case) if openings else None,
        evidence=_evidence(ledger, entries) if evidence else {},
        last_recorded_at=last,
    )


def _read_nodes(ledger: Ledger, plans: Sequence[Plan]) -> dict[NodeID, bytes]:
    """Every node the plans name, deduplicated, in as few queries as the database allows."""
    wanted = list(dict.fromkeys(n for p in plans for n in p.node_ids()))
    found: dict[NodeID, bytes] = {}
    for start in range(0, len(wanted), NODES_PER_QUERY):
        found.update(ledger.store.read_nodes(wanted[start:start + NODES_PER_QUERY]))
    return found


def _signed(checkpoint: StoredCheckpoint, verifier: Any) -> bool:
    try:
        verify_checkpoint(checkpoint.note, verifier)
    except CheckpointError:
        return False
    return True


def _assemble(plan: Plan, nodes: Mapping[NodeID, bytes]) -> list[bytes]:
    """The proof, or an empty one when a node is missing: the checks then report a proof
    that does not fold to the root, naming the entry, instead of failing the whole read."""
    try:
        return plan.assemble(nodes)
    except LookupError:
        return []


def _evidence(ledger: Ledger, entries: Sequence[CaseEntry]) -> dict[str, EvidenceState]:
    found: dict[str, EvidenceState] = {}
    for item in entries:
        for ref in item.entry.evidence:
            sha = ref["sha256"]
            if sha not in found:
                found[sha] = _hash_file(ledger, sha)
    return found


def _hash_file(ledger: Ledger, sha: str) -> EvidenceState:
    try:
        path = ledger.files.path(sha)
    except ValueError:
        return EvidenceState(sha, None, None, Path(sha))
    try:
        with path.open("rb") as fh:
            head = fh.read(KEEP_IN_MEMORY + 1)
            if len(head) <= KEEP_IN_MEMORY:
                return EvidenceState(sha, len(head), hashlib.sha256(head).hexdigest(), path,
                                     head)
            digest, size = hashlib.sha256(head), len(head)
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        return EvidenceState(sha, None, None, path)
    return EvidenceState(sha, size, digest.hexdigest(), path)
