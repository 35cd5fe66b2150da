"""RFC 9162 Merkle tree hashing, proof planning over complete-subtree storage, verification.

Pure functions only: bytes in, bytes out, no I/O.
"""

from ledger.merkle.errors import (
    BadHashSizeError,
    IndexOutOfRangeError,
    MissingNodeError,
    ProofError,
    ProofLengthError,
    RootMismatchError,
)
from ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from ledger.merkle.plan import (
    NodeID,
    Plan,
    append_leaves,
    consistency_plan,
    fold_range,
    frontier_ids,
    inclusion_plan,
    range_nodes,
    root_from_frontier,
    root_plan,
)
from ledger.merkle.verify import root_from_inclusion_proof, verify_consistency, verify_inclusion

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "BadHashSizeError",
    "IndexOutOfRangeError",
    "MissingNodeError",
    "NodeID",
    "Plan",
    "ProofError",
    "ProofLengthError",
    "RootMismatchError",
    "append_leaves",
    "consistency_plan",
    "fold_range",
    "frontier_ids",
    "inclusion_plan",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root_from_frontier",
    "root_from_inclusion_proof",
    "root_plan",
    "verify_consistency",
    "verify_inclusion",
]
