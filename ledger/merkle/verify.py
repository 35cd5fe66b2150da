"""Strict RFC 9162 proof verification (§2.1.3.2 inclusion, §2.1.4.2 consistency).

Lengths and hash sizes are checked before any hashing: the RFC loops alone would accept
some malformed inputs (an empty "hash" concatenates fine), and an exact expected length
lets errors say got/want instead of just "failed".
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.merkle.errors import (
    BadHashSizeError,
    IndexOutOfRangeError,
    ProofError,
    ProofLengthError,
    RootMismatchError,
)
from ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["root_from_inclusion_proof", "verify_consistency", "verify_inclusion"]


def _check_hash(what: str, h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise BadHashSizeError(what, len(h), HASH_SIZE)


def _check_proof_hashes(proof: Sequence[bytes], want: int) -> None:
    if len(proof) != want:
        raise ProofLengthError(len(proof), want)
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def _inclusion_proof_len(index: int, size: int) -> int:
    # Below the level where the paths to `index` and `size - 1` meet, every level has a
    # sibling; above it, only levels where `index` is a right child do (the rest are
    # skipped because the right edge has no sibling there).
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof for ``leaf_hash`` at ``index`` of ``size``."""
    if not 0 <= index < size:
        raise IndexOutOfRangeError(index, size)
    _check_hash("leaf hash", leaf_hash)
    _check_proof_hashes(proof, _inclusion_proof_len(index, size))

    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError(f"proof for index {index} in size {size} climbs past the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right edge, levels where the node has no sibling are skipped.
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof for index {index} in size {size} stops below the root")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise a ``ProofError`` unless ``proof`` shows ``leaf_hash`` at ``index`` under ``root``."""
    _check_hash("root", root)
    got = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if got != root:
        raise RootMismatchError(got, root)


def _consistency_proof_len(size1: int, size2: int) -> int:
    # The inclusion path of leaf size1-1 in size2, minus the levels inside the largest
    # complete subtree ending at size1 (that subtree's hash stands in for them), plus that
    # subtree's hash itself unless it is the whole old tree, which the verifier has as root1.
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 == 1 << shift else 1
    return seed + _inclusion_proof_len(size1 - 1, size2) - shift


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise a ``ProofError`` unless ``proof`` shows tree ``size1`` is a prefix of ``size2``."""
    if size1 < 0 or size2 < 0:
        raise ProofError(f"negative tree size: size1 {size1}, size2 {size2}")
    if size1 > size2:
        raise ProofError(f"size1 {size1} > size2 {size2}")
    if size1 == size2:
        # Like Go's transparency-dev/merkle (and the shared vector
        # sizes-are-equal-one-and-proof-is-empty), equal sizes only need an empty proof and
        # equal roots: no hashing happens, so the root length is not checked here.
        if proof:
            raise ProofLengthError(len(proof), 0)
        # The empty tree's root is fixed, so a size-0 checkpoint claiming another root is
        # bogus even if both claims agree.
        want = EMPTY_ROOT if size1 == 0 else root1
        for root in (root1, root2):
            if root != want:
                raise RootMismatchError(root, want)
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    if size1 == 0:
        # Anything extends the empty tree, so such a "proof" would prove nothing; RFC 9162
        # defines none and accepting one would hide a client bug.
        raise ProofError(f"no consistency proof exists from size 0 to size {size2}")
    _check_proof_hashes(proof, _consistency_proof_len(size1, size2))

    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"proof from {size1} to {size2} climbs past the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof from {size1} to {size2} stops below the root")
    if fr != root1:
        raise RootMismatchError(fr, root1)
    if sr != root2:
        raise RootMismatchError(sr, root2)
