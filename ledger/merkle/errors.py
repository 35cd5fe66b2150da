"""Errors raised by the Merkle planner and verifier.

Every verification failure is a ``ProofError`` (a ``ValueError`` of the tree's verification
kind), so callers can reject a bad proof with one ``except`` clause, while the subclasses keep
the got/want values for logs and API responses.
"""

from __future__ import annotations

from ledger.errors import StoreError, VerificationError

__all__ = [
    "BadHashSizeError",
    "IndexOutOfRangeError",
    "MissingNodeError",
    "ProofError",
    "ProofLengthError",
    "RootMismatchError",
]


class ProofError(VerificationError, ValueError):
    """A proof, or the claim it is checked against, is not valid."""


class RootMismatchError(ProofError):
    def __init__(self, got: bytes, want: bytes) -> None:
        self.got = got
        self.want = want
        super().__init__(f"calculated root {got.hex()} does not match expected root {want.hex()}")


class ProofLengthError(ProofError):
    def __init__(self, got: int, want: int) -> None:
        self.got = got
        self.want = want
        super().__init__(f"proof has {got} hashes, want {want}")


class BadHashSizeError(ProofError):
    def __init__(self, what: str, got: int, want: int) -> None:
        self.what = what
        self.got = got
        self.want = want
        super().__init__(f"{what} has {got} bytes, want {want}")


class IndexOutOfRangeError(ProofError):
    def __init__(self, index: int, size: int) -> None:
        self.index = index
        self.size = size
        super().__init__(f"index {index} out of range for size {size}")


class MissingNodeError(StoreError, KeyError):
    """The node store lacks a hash that a plan needs.

    A ``KeyError`` rather than a ``ProofError``: it signals a store that is behind or
    damaged, not a bad proof from a client.
    """

    def __init__(self, node_id: object) -> None:
        self.node_id = node_id
        super().__init__(node_id)

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the tuple; the ledger logs read "node L/N".
        return f"node {self.node_id} missing from store"
