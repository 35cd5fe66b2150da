"""Naive RFC 9162 §2.1 Merkle tree functions, transcribed from the RFC text.

Test-only oracle for ledger.merkle: recursive, slice-based and deliberately independent of
the code under test (it hashes with hashlib directly), so a shared bug cannot hide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) (§2.1.1)."""
    n = len(entries)
    if n == 0:
        return _hash(b"")
    if n == 1:
        return _hash(b"\x00" + entries[0])
    k = _k(n)
    return _hash(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


def path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1), for 0 <= m < n."""
    n = len(entries)
    if not 0 <= m < n:
        raise ValueError(f"PATH({m}, D[{n}]) is undefined")
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


def proof(m: int, entries: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (§2.1.4.1), for 0 < m <= n."""
    n = len(entries)
    if not 0 < m <= n:
        raise ValueError(f"PROOF({m}, D[{n}]) is undefined")
    return _subproof(m, entries, True)


def _subproof(m: int, entries: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, entries[:k], b), mth(entries[k:])]
    return [*_subproof(m - k, entries[k:], False), mth(entries[:k])]
