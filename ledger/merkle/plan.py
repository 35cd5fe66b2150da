"""Proof planning: which stored nodes a proof needs, and how to fold them into proof hashes.

Planning is separate from fetching (as in transparency-dev/merkle) so the store can load
every node a proof needs in one round trip, and so this module stays pure.

The store keeps only complete subtrees: ``NodeID(level, index)`` is the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``. RFC 9162 proofs also contain hashes of
incomplete ("ephemeral") subtrees on the right edge of the tree; a proof element is
therefore described by its leaf range, and rebuilt from that range's complete subtrees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

from ledger.merkle.errors import BadHashSizeError, IndexOutOfRangeError, MissingNodeError
from ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "NodeID",
    "Plan",
    "append_leaves",
    "consistency_plan",
    "fold_range",
    "frontier_ids",
    "inclusion_plan",
    "range_nodes",
    "root_from_frontier",
    "root_plan",
]


class NodeID(NamedTuple):
    level: int
    index: int

    def __str__(self) -> str:
        return f"{self.level}/{self.index}"


# NodeID(...) goes through a Python-level __new__; the append hot path builds one per node.
_tuple_new = tuple.__new__


def _split(n: int) -> int:
    """RFC 9162 split point: the largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """Complete subtrees covering ``[begin, end)``, largest first.

    ``begin`` must be a multiple of the largest power of two not above ``end - begin``,
    which every RFC 9162 subtree satisfies; otherwise the cover would not be decreasing.
    """
    if begin < 0 or end < begin:
        raise ValueError(f"invalid leaf range [{begin}, {end})")
    size = end - begin
    if size and begin & ((1 << (size.bit_length() - 1)) - 1):
        raise ValueError(f"leaf range [{begin}, {end}) is not aligned at its start")
    nodes: list[NodeID] = []
    while size:
        level = size.bit_length() - 1
        nodes.append(NodeID(level, begin >> level))
        step = 1 << level
        begin += step
        size -= step
    return nodes


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """Hash of a subtree from the hashes of its ``range_nodes``, in the same order.

    Folding right to left reproduces RFC 9162's split: the left child is always the
    largest complete piece, the right child is the fold of everything after it.
    """
    if not hashes:
        raise ValueError("cannot fold an empty list of hashes")
    h = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h


@dataclass(frozen=True, slots=True)
class Plan:
    """A proof described as leaf ranges; proof element ``i`` is MTH of ``ranges[i]``."""

    ranges: tuple[tuple[int, int], ...]

    def node_ids(self) -> list[NodeID]:
        nodes = chain.from_iterable(range_nodes(b, e) for b, e in self.ranges)
        return list(dict.fromkeys(nodes))

    def assemble(self, hashes: Mapping[NodeID, bytes]) -> list[bytes]:
        proof: list[bytes] = []
        for begin, end in self.ranges:
            parts: list[bytes] = []
            for node in range_nodes(begin, end):
                try:
                    parts.append(hashes[node])
                except KeyError:
                    raise MissingNodeError(node) from None
            proof.append(fold_range(parts))
        return proof


def _check_size(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} {value} is negative")


def inclusion_plan(index: int, size: int) -> Plan:
    """RFC 9162 §2.1.3.1 PATH(index, D[size])."""
    _check_size("size", size)
    if not 0 <= index < size:
        raise IndexOutOfRangeError(index, size)
    # Walk down from the root; each step's sibling is a proof element, and the RFC lists
    # them bottom-up, so the walk's order is reversed at the end.
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return Plan(tuple(ranges))


def consistency_plan(size1: int, size2: int) -> Plan:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[size2]), i.e. SUBPROOF(size1, D[size2], true)."""
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise ValueError(f"size1 {size1} > size2 {size2}")
    if size1 == size2:
        return Plan(())
    if size1 == 0:
        raise ValueError(f"no consistency proof from size 0 to size {size2}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size2
    # `known` is SUBPROOF's b flag: while true, the verifier already has MTH(D[0:size1]) as
    # root1, so reaching that subtree adds nothing.
    known = True
    while hi != size1:
        mid = lo + _split(hi - lo)
        if size1 <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            known = False
    if not known:
        ranges.append((lo, hi))
    ranges.reverse()
    return Plan(tuple(ranges))


def root_plan(size: int) -> Plan:
    """The tree head as a one-element plan; size 0 has no nodes, its root is EMPTY_ROOT."""
    _check_size("size", size)
    return Plan(((0, size),)) if size else Plan(())


def frontier_ids(size: int) -> list[NodeID]:
    """The complete subtrees covering ``[0, size)``: all that is needed to append."""
    return range_nodes(0, size)


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    return fold_range(frontier) if frontier else EMPTY_ROOT


def append_leaves(
    size: int, frontier: Sequence[bytes], new_leaf_hashes: Sequence[bytes],
    *, leaves: bool = True,
) -> tuple[list[tuple[NodeID, bytes]], list[bytes]]:
    """Append leaf hashes to a tree of ``size`` leaves known only by its frontier.

    Returns every node that became complete (each leaf, then the parents it completes,
    children always before parents) and the frontier of the grown tree. The frontier is a
    stack with one entry per set bit of the size, so a leaf at index ``i`` completes one
    parent per trailing one bit of ``i``, each merging with the top of the stack; that is
    amortised O(1) hashing per leaf. With ``leaves=False`` only interior nodes are returned
    (what a verifier compares with the stored ones).
    """
    _check_size("size", size)
    if len(frontier) != size.bit_count():
        raise ValueError(f"frontier has {len(frontier)} hashes, want {size.bit_count()}")
    stack = list(frontier)
    push = stack.append
    pop = stack.pop
    created: list[tuple[NodeID, bytes]] = []
    emit = created.append
    sha256 = hashlib.sha256
    new = _tuple_new
    index = size
    for h in new_leaf_hashes:
        if len(h) != HASH_SIZE:
            raise BadHashSizeError(f"leaf hash {index}", len(h), HASH_SIZE)
        if leaves:
            emit((new(NodeID, (0, index)), h))
        i = index
        level = 0
        while i & 1:
            # Inlined node_hash: this loop is the ledger's write path.
            h = sha256(b"\x01" + pop() + h).digest()
            i >>= 1
            level += 1
            emit((new(NodeID, (level, i)), h))
        push(h)
        index += 1
    return created, stack
