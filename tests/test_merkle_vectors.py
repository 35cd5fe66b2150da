"""ledger.merkle against the transparency-dev/merkle RFC 6962 test vectors.

The vectors live outside this repository (see shared/vectors/rfc6962/README.md). A missing
vectors directory fails the suite: a silent skip would let a broken checkout look green.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ledger.merkle import (
    NodeID,
    ProofError,
    append_leaves,
    consistency_plan,
    frontier_ids,
    inclusion_plan,
    leaf_hash,
    root_from_frontier,
    root_from_inclusion_proof,
    root_plan,
    verify_consistency,
    verify_inclusion,
)

VECTORS_ENV = "TEMOIN_VECTORS_DIR"
KINDS = ("inclusion", "consistency")


def vectors_dir() -> Path:
    override = os.environ.get(VECTORS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "rfc6962"


VECTORS = vectors_dir()


def _collect() -> list[str]:
    return sorted(
        p.relative_to(VECTORS).as_posix()
        for kind in KINDS
        for p in (VECTORS / kind).rglob("*.json")
    )


FILES = _collect()

# The leaf entries behind the numbered vector folders: `leaves` in transparency-dev/merkle
# proof/verify_test.go.
GO_TEST_LEAVES: list[bytes] = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
# `roots` from the same Go file: MTH of the first 1..8 of those leaves.
GO_TEST_ROOTS: list[bytes] = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

FIELDS = {
    "inclusion": {"leafIdx", "treeSize", "root", "leafHash", "proof", "desc", "wantErr"},
    "consistency": {"size1", "size2", "root1", "root2", "proof", "desc", "wantErr"},
}


def _missing_message() -> str:
    return (
        f"RFC 6962 test vectors not found: looked for {KINDS} under {VECTORS} "
        f"(set {VECTORS_ENV} to override)"
    )


def _b64(s: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except binascii.Error as e:
        pytest.fail(f"bad base64 {s!r}: {e}")


def _load(rel: str) -> dict[str, Any]:
    data = json.loads((VECTORS / rel).read_text())
    kind = rel.split("/", 1)[0]
    assert set(data) == FIELDS[kind], f"{rel}: fields {sorted(data)}"
    assert isinstance(data["wantErr"], bool), f"{rel}: wantErr {data['wantErr']!r}"
    return data


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in data["proof"] or []]


def _verify(rel: str, data: dict[str, Any]) -> None:
    if rel.startswith("inclusion/"):
        verify_inclusion(
            data["leafIdx"],
            data["treeSize"],
            _b64(data["leafHash"]),
            _proof(data),
            _b64(data["root"]),
        )
    else:
        verify_consistency(
            data["size1"], data["size2"], _b64(data["root1"]), _b64(data["root2"]), _proof(data)
        )


def test_vectors_present() -> None:
    assert VECTORS.is_dir(), _missing_message()
    counts = {kind: sum(f.startswith(kind + "/") for f in FILES) for kind in KINDS}
    # Upstream has 98 of each today; a much smaller count means a partial copy.
    assert all(n > 40 for n in counts.values()), f"too few vectors in {VECTORS}: {counts}"
    assert sum(counts.values()) > 100, f"too few vectors in {VECTORS}: {counts}"
    assert len(GOLDEN) >= 10, f"only {len(GOLDEN)} golden vectors: {GOLDEN}"


@pytest.mark.parametrize("rel", FILES or [pytest.param(None, id="vectors-missing")])
def test_vector(rel: str | None) -> None:
    if rel is None:
        pytest.fail(_missing_message())
    data = _load(rel)
    if data["wantErr"]:
        with pytest.raises(ProofError):
            _verify(rel, data)
    else:
        _verify(rel, data)


# --- golden: our planner regenerates the happy-path vectors -------------------------------


def _golden_files() -> list[str]:
    # Only the numbered folders come from the tree of GO_TEST_LEAVES; `additional` and
    # `single-entry` use made-up hashes.
    out = []
    for rel in FILES:
        if rel.split("/")[1].isdigit() and not _load(rel)["wantErr"]:
            out.append(rel)
    return out


GOLDEN = _golden_files()


def _go_tree_store() -> dict[NodeID, bytes]:
    created, _ = append_leaves(0, [], [leaf_hash(e) for e in GO_TEST_LEAVES])
    return dict(created)


def _store_at(store: dict[NodeID, bytes], size: int) -> dict[NodeID, bytes]:
    return {n: h for n, h in store.items() if (n.index + 1) << n.level <= size}


def test_go_roots() -> None:
    store = _go_tree_store()
    for size, want in enumerate(GO_TEST_ROOTS, start=1):
        frontier = [store[n] for n in frontier_ids(size)]
        assert root_from_frontier(frontier) == want, f"size {size}"


@pytest.mark.parametrize("rel", GOLDEN)
def test_golden(rel: str) -> None:
    data = _load(rel)
    store = _go_tree_store()
    proof = _proof(data)
    if rel.startswith("inclusion/"):
        index, size = data["leafIdx"], data["treeSize"]
        at = _store_at(store, size)
        assert _b64(data["leafHash"]) == leaf_hash(GO_TEST_LEAVES[index])
        assert root_plan(size).assemble(at) == [_b64(data["root"])]
        assert inclusion_plan(index, size).assemble(at) == proof
        assert root_from_inclusion_proof(index, size, at[NodeID(0, index)], proof) == _b64(
            data["root"]
        )
    else:
        size1, size2 = data["size1"], data["size2"]
        at = _store_at(store, size2)
        assert root_plan(size1).assemble(at) == [_b64(data["root1"])]
        assert root_plan(size2).assemble(at) == [_b64(data["root2"])]
        assert consistency_plan(size1, size2).assemble(at) == proof
