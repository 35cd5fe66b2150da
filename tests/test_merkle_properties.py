"""Property and exhaustive tests: ledger.merkle against the naive RFC 9162 reference.

The store model is the ledger's: a dict of every complete subtree, grown only through
append_leaves. Every proof for a tree of size n is assembled from the store *as it was at
size n* (nodes covering leaves >= n filtered out), so a plan that reached for a node the
ledger had not written yet would fail with MissingNodeError.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    BadHashSizeError,
    IndexOutOfRangeError,
    MissingNodeError,
    NodeID,
    Plan,
    ProofError,
    ProofLengthError,
    RootMismatchError,
    append_leaves,
    consistency_plan,
    fold_range,
    frontier_ids,
    inclusion_plan,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_frontier,
    root_from_inclusion_proof,
    root_plan,
    verify_consistency,
    verify_inclusion,
)
from tests import merkle_reference as ref

MAX_SIZE = 1200
SMALL = 70  # every (index, size) and (size1, size2) pair up to here is checked

ENTRIES: list[bytes] = [b"entry-%d" % i for i in range(2 * MAX_SIZE)]
LEAVES: list[bytes] = [leaf_hash(e) for e in ENTRIES]

Store = dict[NodeID, bytes]

SETTINGS = settings(deadline=None, database=None)


@functools.cache
def ref_roots() -> tuple[bytes, ...]:
    """Reference MTH of the first n entries for every n <= MAX_SIZE (computed once)."""
    return tuple(ref.mth(ENTRIES[:n]) for n in range(MAX_SIZE + 1))


# --- helpers --------------------------------------------------------------------------------


class Tree:
    """The ledger's write path in miniature: a node store plus the current frontier."""

    def __init__(self) -> None:
        self.store: Store = {}
        self.size = 0
        self.frontier: list[bytes] = []

    def grow(self, count: int) -> None:
        old = self.size
        new = old + count
        created, frontier = append_leaves(old, self.frontier, LEAVES[old:new])
        ids = [node for node, _ in created]
        # Exactly the nodes whose last leaf was just added, each once.
        want = {
            NodeID(level, index)
            for level in range(new.bit_length())
            for index in range(old >> level, new >> level)
        }
        assert len(ids) == len(set(ids)) == len(want)
        assert set(ids) == want
        for node, h in created:
            assert node not in self.store, f"node {node} rewritten"
            assert len(h) == HASH_SIZE
            if node.level == 0:
                assert h == LEAVES[node.index]
            else:
                # Children come before parents, so they are already stored.
                left = self.store[NodeID(node.level - 1, 2 * node.index)]
                right = self.store[NodeID(node.level - 1, 2 * node.index + 1)]
                assert h == node_hash(left, right)
            self.store[node] = h
        assert frontier == [self.store[n] for n in frontier_ids(new)]
        self.size, self.frontier = new, frontier

    def grow_to(
        self, size: int, chunks: Sequence[int], roots: Sequence[bytes] | None = None
    ) -> None:
        """Grow in the given chunk sizes (cycled), checking the root after each if given."""
        i = 0
        while self.size < size:
            self.grow(min(chunks[i % len(chunks)], size - self.size))
            if roots is not None:
                assert root_from_frontier(self.frontier) == roots[self.size]
            i += 1


def store_at(store: Store, size: int) -> Store:
    """The store as the ledger had it at `size` leaves: nodes are write-once."""
    return {n: h for n, h in store.items() if (n.index + 1) << n.level <= size}


def flip_bit(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def rejects(fn: Callable[..., None], *args: Any) -> None:
    with pytest.raises(ProofError):
        fn(*args)


def inclusion_bound(size: int) -> int:
    # One node per path level, except the single ephemeral sibling on the right edge, which
    # splits into at most L-1 complete subtrees: max(L, 2L-2) with L = ceil(log2(size)).
    depth = (size - 1).bit_length()
    return max(depth, 2 * depth - 2)


def consistency_bound(size2: int) -> int:
    depth = (size2 - 1).bit_length()
    return max(depth + 1, 2 * depth - 1)


# --- the checks shared by exhaustive and random tests ---------------------------------------


def check_inclusion(store: Store, index: int, size: int, bit: int, roots: Sequence[bytes]) -> None:
    plan = inclusion_plan(index, size)
    ids = plan.node_ids()
    missing = [str(n) for n in ids if n not in store]
    assert not missing, f"PATH({index}, {size}) needs unwritten nodes {missing}"
    assert len(ids) <= inclusion_bound(size)
    proof = plan.assemble(store)
    assert proof == ref.path(index, ENTRIES[:size])

    leaf, root = LEAVES[index], roots[size]
    verify_inclusion(index, size, leaf, proof, root)
    assert root_from_inclusion_proof(index, size, leaf, proof) == root

    for k in range(len(proof)):
        bad = [*proof[:k], flip_bit(proof[k], bit), *proof[k + 1 :]]
        rejects(verify_inclusion, index, size, leaf, bad, root)
    rejects(verify_inclusion, index, size, flip_bit(leaf, bit), proof, root)
    rejects(verify_inclusion, index, size, leaf, proof, flip_bit(root, bit))
    if proof:
        rejects(verify_inclusion, index, size, leaf, proof[:-1], root)
    rejects(verify_inclusion, index, size, leaf, [*proof, root], root)
    rejects(verify_inclusion, index, size, leaf, [root, *proof], root)
    for other in (index - 1, index + 1, index ^ 2, size, -1):
        if other != index:
            rejects(verify_inclusion, other, size, leaf, proof, root)
    # The proof alone does not bind the size (e.g. PATH(0, D[3]) also chains to that root
    # when read as a size-4 proof); the size is bound by the signed checkpoint (size, root).
    # So a changed size must fail against that size's root, and for Go's probes (size*2,
    # size/2) even against the original root.
    for other in (size - 1, size + 1, 2 * size, size // 2):
        if other != size and index < other < len(roots):
            rejects(verify_inclusion, index, other, leaf, proof, roots[other])
    for other in (2 * size, size // 2):
        if other != size:
            rejects(verify_inclusion, index, other, leaf, proof, root)


def check_consistency(
    store: Store, size1: int, size2: int, bit: int, roots: Sequence[bytes]
) -> None:
    plan = consistency_plan(size1, size2)
    ids = plan.node_ids()
    missing = [str(n) for n in ids if n not in store]
    assert not missing, f"PROOF({size1}, {size2}) needs unwritten nodes {missing}"
    assert len(ids) <= consistency_bound(size2)
    proof = plan.assemble(store)
    assert proof == ref.proof(size1, ENTRIES[:size2])

    root1, root2 = roots[size1], roots[size2]
    verify_consistency(size1, size2, root1, root2, proof)

    for k in range(len(proof)):
        bad = [*proof[:k], flip_bit(proof[k], bit), *proof[k + 1 :]]
        rejects(verify_consistency, size1, size2, root1, root2, bad)
    rejects(verify_consistency, size1, size2, flip_bit(root1, bit), root2, proof)
    rejects(verify_consistency, size1, size2, root1, flip_bit(root2, bit), proof)
    rejects(verify_consistency, size1, size2, root1, root2, [*proof, root1])
    rejects(verify_consistency, size1, size2, root1, root2, [root2, *proof])
    rejects(verify_consistency, 0, size2, EMPTY_ROOT, root2, proof)
    if proof:
        rejects(verify_consistency, size1, size2, root1, root2, proof[:-1])
    if size1 != size2:
        rejects(verify_consistency, size1, size2, root2, root1, proof)
    for other in (size1 - 1, size1 + 1, size1 ^ 2, size2 + 1):
        if 0 < other != size1:
            # Unlike size2, size1 shapes how root1 is rebuilt, so even the original root1
            # fails (checked for every size1 up to 70 while writing these tests).
            rejects(verify_consistency, other, size2, root1, root2, proof)
            if other < len(roots):
                rejects(verify_consistency, other, size2, roots[other], root2, proof)
    for other in (size2 - 1, size2 + 1, 2 * size2, size2 // 2):
        if other != size2 and size1 <= other < len(roots):
            rejects(verify_consistency, size1, other, root1, roots[other], proof)
    for other in (2 * size2, size2 // 2):
        if other != size2:
            rejects(verify_consistency, size1, other, root1, root2, proof)


# --- exhaustive small trees ------------------------------------------------------------------


def test_exhaustive_small_trees() -> None:
    rng = random.Random(9162)
    tree = Tree()
    tree.grow_to(2 * SMALL, [rng.randint(1, 9) for _ in range(64)])
    roots = [ref.mth(ENTRIES[:n]) for n in range(2 * SMALL + 1)]
    for size in range(SMALL + 1):
        store = store_at(tree.store, size)
        frontier = [store[n] for n in frontier_ids(size)]
        assert root_from_frontier(frontier) == roots[size]
        assert root_plan(size).assemble(store) == ([roots[size]] if size else [])
        for index in range(size):
            check_inclusion(store, index, size, index * 37 + size, roots)
            # Any other index, exhaustively: proofs are bound to their position.
            proof = inclusion_plan(index, size).assemble(store)
            for other in range(size):
                if other != index:
                    rejects(verify_inclusion, other, size, LEAVES[index], proof, roots[size])
        for size1 in range(1, size + 1):
            check_consistency(store, size1, size, size1 * 41 + size, roots)


# --- random larger trees ---------------------------------------------------------------------


@SETTINGS
@given(
    # Hypothesis favours small integers; the second branch keeps big trees common.
    size=st.integers(1, MAX_SIZE) | st.integers(MAX_SIZE // 2, MAX_SIZE),
    chunks=st.lists(st.integers(1, 257), min_size=1, max_size=20),
    data=st.data(),
)
def test_random_trees(size: int, chunks: list[int], data: st.DataObject) -> None:
    roots = ref_roots()
    tree = Tree()
    tree.grow_to(size, chunks, roots)
    # The full tree, then two random sizes, each served from the store as it was then.
    for n in (
        size,
        data.draw(st.integers(1, size), label="n2"),
        data.draw(st.integers(1, size), label="n3"),
    ):
        store = store_at(tree.store, n)
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
        check_inclusion(store, data.draw(st.integers(0, n - 1), label="index"), n, bit, roots)
        check_consistency(store, data.draw(st.integers(1, n), label="size1"), n, bit, roots)


def test_root_at_every_size() -> None:
    roots = ref_roots()
    rng = random.Random(6962)
    tree = Tree()
    tree.grow_to(MAX_SIZE, [rng.choice((1, 2, 3, 7, 64, 100)) for _ in range(50)])
    for size in range(MAX_SIZE + 1):
        ids = frontier_ids(size)
        assert all((n.index + 1) << n.level <= size for n in ids)
        assert root_from_frontier([tree.store[n] for n in ids]) == roots[size]
        if size:
            assert root_plan(size).assemble(tree.store) == [roots[size]]


@SETTINGS
@given(chunks=st.lists(st.integers(0, 40), min_size=1, max_size=30))
def test_chunking_does_not_matter(chunks: list[int]) -> None:
    tree = Tree()
    for c in chunks:
        tree.grow(c)
    one_shot, frontier = append_leaves(0, [], LEAVES[: tree.size])
    assert dict(one_shot) == tree.store
    assert frontier == tree.frontier
    # Creation order is the leaf order: appending in chunks yields the same sequence.
    assert [n for n, _ in one_shot] == list(tree.store)


# --- plan sizes --------------------------------------------------------------------------------


def test_node_count_bounds_exhaustive() -> None:
    for size in range(1, 131):
        worst_incl = max(len(inclusion_plan(i, size).node_ids()) for i in range(size))
        assert worst_incl <= inclusion_bound(size)
        for size1 in range(1, size + 1):
            assert len(consistency_plan(size1, size).node_ids()) <= consistency_bound(size)
    # The bounds are tight: reached just below a power of two.
    for depth in range(3, 11):
        size = (1 << depth) - 1
        worst = max(len(inclusion_plan(i, size).node_ids()) for i in range(size))
        assert worst == inclusion_bound(size) == 2 * depth - 2
        worst = max(len(consistency_plan(m, size).node_ids()) for m in range(1, size))
        assert worst == consistency_bound(size) == 2 * depth - 1


@SETTINGS
@given(size=st.integers(1, 1 << 48), data=st.data())
def test_plans_for_huge_trees(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    plan = inclusion_plan(index, size)
    ids = plan.node_ids()
    assert len(ids) <= inclusion_bound(size)
    assert all((n.index + 1) << n.level <= size for n in ids)
    # The proof ranges plus the leaf itself tile [0, size) exactly.
    tiles = sorted([*plan.ranges, (index, index + 1)])
    assert tiles[0][0] == 0 and tiles[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(tiles))

    size1 = data.draw(st.integers(1, size), label="size1")
    plan = consistency_plan(size1, size)
    ids = plan.node_ids()
    assert len(ids) <= consistency_bound(size)
    assert all((n.index + 1) << n.level <= size for n in ids)
    # No range straddles the old tree's edge: each is wholly old or wholly new.
    assert all(e <= size1 or b >= size1 for b, e in plan.ranges)


# --- contract details --------------------------------------------------------------------------


def test_hashing() -> None:
    assert EMPTY_ROOT == ref.mth([]) == root_from_frontier([])
    assert leaf_hash(b"x") == ref.mth([b"x"])
    assert node_hash(leaf_hash(b"a"), leaf_hash(b"b")) == ref.mth([b"a", b"b"])


def test_range_nodes() -> None:
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 13) == [NodeID(3, 0), NodeID(2, 2), NodeID(0, 12)]
    assert range_nodes(8, 13) == [NodeID(2, 2), NodeID(0, 12)]
    assert str(NodeID(3, 12)) == "3/12"
    for begin, end in ((-1, 3), (5, 4), (2, 6), (1, 3)):
        with pytest.raises(ValueError):
            range_nodes(begin, end)
    with pytest.raises(ValueError):
        fold_range([])


def test_plan_validation() -> None:
    with pytest.raises(ValueError, match="index 5 out of range for size 5"):
        inclusion_plan(5, 5)
    with pytest.raises(ValueError, match="index -1 out of range for size 5"):
        inclusion_plan(-1, 5)
    for size1, size2 in ((3, 2), (0, 1), (-1, 2), (1, -1)):
        with pytest.raises(ValueError):
            consistency_plan(size1, size2)
    assert consistency_plan(0, 0) == consistency_plan(7, 7) == Plan(())
    assert root_plan(0) == Plan(())
    with pytest.raises(ValueError, match="frontier has 0 hashes, want 2"):
        append_leaves(3, [], [])
    with pytest.raises(BadHashSizeError):
        append_leaves(0, [], [b"short"])
    assert append_leaves(1, [LEAVES[0]], []) == ([], [LEAVES[0]])


def test_missing_node() -> None:
    tree = Tree()
    tree.grow(6)
    plan = inclusion_plan(0, 7)
    with pytest.raises(MissingNodeError) as info:
        plan.assemble(tree.store)
    assert isinstance(info.value, KeyError)
    assert info.value.node_id == NodeID(0, 6)
    assert str(info.value) == "node 0/6 missing from store"


def test_error_messages() -> None:
    tree = Tree()
    tree.grow(5)
    roots = ref_roots()
    proof = inclusion_plan(1, 5).assemble(tree.store)
    with pytest.raises(RootMismatchError) as mismatch:
        verify_inclusion(1, 5, LEAVES[1], proof, roots[4])
    assert mismatch.value.got == roots[5] and mismatch.value.want == roots[4]
    assert str(mismatch.value) == (
        f"calculated root {roots[5].hex()} does not match expected root {roots[4].hex()}"
    )
    with pytest.raises(ProofLengthError, match="proof has 2 hashes, want 3"):
        verify_inclusion(1, 5, LEAVES[1], proof[:2], roots[5])
    with pytest.raises(BadHashSizeError, match=r"proof\[1\] has 31 bytes, want 32"):
        verify_inclusion(1, 5, LEAVES[1], [proof[0], proof[1][:31], proof[2]], roots[5])
    with pytest.raises(IndexOutOfRangeError, match="index 5 out of range for size 5"):
        verify_inclusion(5, 5, LEAVES[1], proof, roots[5])
    with pytest.raises(ProofLengthError, match="proof has 1 hashes, want 0"):
        verify_consistency(5, 5, roots[5], roots[5], [roots[5]])


def test_equal_and_empty_sizes() -> None:
    roots = ref_roots()
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(3, 3, roots[3], roots[3], [])
    rejects(verify_consistency, 3, 3, roots[3], roots[4], [])
    # The empty tree has exactly one root.
    rejects(verify_consistency, 0, 0, roots[1], roots[1], [])
    rejects(verify_consistency, 0, 1, EMPTY_ROOT, roots[1], [])
    rejects(verify_consistency, 2, 1, roots[2], roots[1], [])
    rejects(verify_inclusion, 0, 0, LEAVES[0], [], EMPTY_ROOT)
