"""The log over HTTP: checkpoints verify with the published key, proofs verify against them."""

from __future__ import annotations

import time

import httpx
import pytest

from ledger.checkpoint import Checkpoint
from ledger.merkle import EMPTY_ROOT, verify_consistency, verify_inclusion
from ledger.signing import Verifier, verify_checkpoint

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ORIGIN,
    ApiServer,
    example,
    is_problem,
    new_case,
)

pytest_plugins = ("tests.api_server",)


def verifier(c: httpx.Client) -> Verifier:
    r = c.get("/v1/log/key")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    key = r.text.strip()
    assert key.startswith(ORIGIN + "+")  # the key's name is the log's origin
    return Verifier.parse(key)


def checkpoint(c: httpx.Client, *, sign: bool = False) -> Checkpoint:
    r = c.post("/v1/log/checkpoint") if sign else c.get("/v1/log/checkpoint")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return verify_checkpoint(r.content, verifier(c))


def append(c: httpx.Client, count: int) -> list[int]:
    events = []
    for _ in range(count // 2):
        case = new_case()
        events += [{"case": case, **example("CaseOpened")},
                   {"case": case, **example("WithdrawalRequested")}]
    r = c.post("/v1/batches", json={"events": events})
    assert r.status_code == 201, r.text
    return [x["index"] for x in r.json()["results"]]


def test_an_empty_log_has_a_signed_size_0_checkpoint(fresh_api: ApiServer) -> None:
    with fresh_api.client() as c:
        cp = checkpoint(c)
        assert (cp.origin, cp.size, cp.root) == (ORIGIN, 0, EMPTY_ROOT)
        empty = c.get("/v1/log/proofs/consistency", params={"from": 0, "to": 0})
        assert empty.json() == {"from": 0, "to": 0, "proof": []}
        assert c.get("/v1/log/checkpoints").json()[0]["size"] == 0


def test_inclusion_proofs_of_returned_indices_verify(api: ApiServer) -> None:
    with api.client() as c:
        indices = append(c, 10)
        cp = checkpoint(c, sign=True)
        assert cp.size >= indices[-1] + 1
        for index in indices:
            r = c.get("/v1/log/proofs/inclusion", params={"index": index, "size": cp.size})
            assert r.status_code == 200, r.text
            proof = r.json()
            assert (proof["index"], proof["size"]) == (index, cp.size)
            entry = c.get(f"/v1/log/entries/{index}").json()
            assert proof["leaf_hash"] == entry["leaf_hash"]
            verify_inclusion(index, cp.size, bytes.fromhex(proof["leaf_hash"]),
                             [bytes.fromhex(h) for h in proof["proof"]], cp.root)


def test_consistency_between_two_checkpoints(api: ApiServer) -> None:
    with api.client() as c:
        append(c, 4)
        old = checkpoint(c, sign=True)
        append(c, 6)
        new = checkpoint(c, sign=True)
        assert new.size == old.size + 6
        r = c.get("/v1/log/proofs/consistency", params={"from": old.size, "to": new.size})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["from"], body["to"]) == (old.size, new.size)
        proof = [bytes.fromhex(h) for h in body["proof"]]
        verify_consistency(old.size, new.size, old.root, new.root, proof)
        # The stored history links up the same way.
        history = c.get("/v1/log/checkpoints", params={"after": old.size - 1}).json()
        assert [h["size"] for h in history][:1] == [old.size]
        assert history[-1]["size"] == new.size
        key = verifier(c)
        assert all(verify_checkpoint(h["note"].encode(), key).size == h["size"]
                   for h in history)


def test_checkpoint_follows_appends_within_a_second(api: ApiServer) -> None:
    with api.client() as c:
        last = append(c, 2)[-1]
        deadline = time.monotonic() + 5
        while (cp := checkpoint(c)).size <= last:
            # Signed by the background task (or by GET once the newest is a second old).
            assert time.monotonic() < deadline, "no checkpoint covered the append in time"
            time.sleep(0.1)
        assert cp.size > last


def test_proof_parameter_rules(api: ApiServer) -> None:
    with api.client() as c:
        append(c, 2)
        tree = checkpoint(c, sign=True).size

        def inclusion(index: int, size: int) -> httpx.Response:
            return c.get("/v1/log/proofs/inclusion", params={"index": index, "size": size})

        def consistency(first: int, second: int) -> httpx.Response:
            return c.get("/v1/log/proofs/consistency", params={"from": first, "to": second})

        assert inclusion(0, tree).status_code == 200
        is_problem(inclusion(tree - 1, tree - 1), 422)  # index >= size
        is_problem(inclusion(0, 0), 422)
        is_problem(inclusion(0, tree + 1), 422)  # size beyond the tree
        is_problem(inclusion(tree, tree + 5), 404)  # index not in the log
        is_problem(consistency(2, 1), 422)  # from > to
        is_problem(consistency(1, tree + 1), 422)  # to beyond the tree
        is_problem(consistency(0, 1), 422)  # from = 0 < to
        same = consistency(tree, tree)
        assert same.status_code == 200 and same.json()["proof"] == []
        is_problem(c.get(f"/v1/log/entries/{tree + 100}"), 404)
