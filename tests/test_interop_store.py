"""Proofs and checkpoints produced by the store verify with Go's reference implementation."""

from __future__ import annotations

import random
from pathlib import Path

from ledger.ledger import Ledger
from ledger.merkle import leaf_hash
from tests.helpers import request
from tests.interop.go_tool import check_consistency, check_inclusion, run_go


def test_store_proofs_and_checkpoints_verify_with_go(ledger: Ledger, go_tool: Path) -> None:
    ledger.append([request(f"G{i}", "CaseOpened") for i in range(5)])
    for i in range(45):
        ledger.append([request(f"G{i % 5}", "OtpFailed")])
    n = ledger.tree_size()
    cp = ledger.sign_checkpoint()
    answer = run_go(go_tool, "note-verify", {"vkey": ledger.key.verifier_key,
                                             "note": cp.note.decode()})
    assert answer["ok"], answer
    leaves = [leaf_hash(row.entry) for row in ledger.store.iter_leaves() if row.entry]
    rng = random.Random(3)
    for _ in range(25):
        size = rng.randint(1, n)
        index = rng.randrange(size)
        proof = ledger.inclusion_proof(index, size)
        got = check_inclusion(go_tool, index, size, leaves[index], ledger.store.root(size), proof)
        assert got["ok"], (index, size, got)
    for _ in range(25):
        size2 = rng.randint(2, n)
        size1 = rng.randint(1, size2 - 1)
        proof = ledger.consistency_proof(size1, size2)
        got = check_consistency(go_tool, size1, size2, ledger.store.root(size1),
                                ledger.store.root(size2), proof)
        assert got["ok"], (size1, size2, got)
    # And Go rejects a proof we break, so the oracle is really checking.
    proof = ledger.inclusion_proof(3, n)
    proof[0] = bytes(32)
    assert not check_inclusion(go_tool, 3, n, leaves[3], cp.root, proof)["ok"]
