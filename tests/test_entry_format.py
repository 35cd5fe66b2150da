"""The entry format is forever: golden bytes, canonical encoding rules, strict parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from ledger.canonical import CanonicalError, canonical_bytes, parse_canonical, strict_loads
from ledger.entry import EntryFormatError, build_entry, parse_entry
from ledger.merkle import leaf_hash, node_hash, verify_consistency, verify_inclusion

GOLDEN = json.loads((Path(__file__).parent / "golden" / "entry_v1.json").read_text())


def test_golden_leaf_hashes_recompute_by_hand() -> None:
    for raw, want in zip(GOLDEN["entries"], GOLDEN["leaf_hashes"], strict=True):
        assert hashlib.sha256(b"\x00" + raw.encode()).hexdigest() == want
        assert leaf_hash(raw.encode()).hex() == want


def test_golden_root_and_proofs() -> None:
    leaves = [bytes.fromhex(h) for h in GOLDEN["leaf_hashes"]]
    root = node_hash(node_hash(leaves[0], leaves[1]), leaves[2])
    assert root.hex() == GOLDEN["root"]
    inc = GOLDEN["inclusion"]
    verify_inclusion(inc["index"], inc["size"], leaves[1],
                     [bytes.fromhex(h) for h in inc["proof"]], root)
    con = GOLDEN["consistency"]
    verify_consistency(con["from"], con["to"], bytes.fromhex(GOLDEN["root_2"]), root,
                       [bytes.fromhex(h) for h in con["proof"]])


def test_builder_reproduces_the_golden_bytes() -> None:
    for i, raw in enumerate(GOLDEN["entries"]):
        obj = json.loads(raw)
        rebuilt = build_entry(
            log=obj["log"], tenant=obj["tenant"], case=obj["case"], case_seq=obj["case_seq"],
            prev=None if obj["prev"] is None else bytes.fromhex(obj["prev"]), type=obj["type"],
            occurred_at=obj["occurred_at"], recorded_at=obj["recorded_at"], source=obj["source"],
            data=obj["data"], personal=obj["personal"], evidence=obj["evidence"],
        )
        assert rebuilt == raw.encode(), f"entry {i} re-encodes differently"
        assert parse_entry(rebuilt).case_seq == i + 1


def test_golden_opening_matches_its_commitment() -> None:
    opening = GOLDEN["opening"]
    entry = json.loads(GOLDEN["entries"][0])
    mac = hmac.new(bytes.fromhex(opening["salt"]), opening["value"].encode(), hashlib.sha256)
    assert mac.hexdigest() == entry["personal"][opening["field"]]


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": float("nan")}, [1, 2.0], {"é": 1}, {1: 2}, "\ud800", object()],
)
def test_canonical_refuses_what_has_no_stable_encoding(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical_bytes(value)


def test_canonical_form() -> None:
    want = '{"a":[true,null,"é"],"b":1}'.encode()
    assert canonical_bytes({"b": 1, "a": [True, None, "é"]}) == want
    with pytest.raises(CanonicalError, match="not in canonical form"):
        parse_canonical(b'{"b":1, "a":2}')
    for bad in (b'{"a":1,"a":2}', b'{"a":1.0}', b'{"a":NaN}', b"\xff", b'{"a":', b"[" * 100000):
        with pytest.raises(CanonicalError):
            strict_loads(bad)


def test_parse_entry_is_strict() -> None:
    raw = GOLDEN["entries"][1].encode()
    obj = json.loads(raw)
    for mutate in (
        lambda o: o.update(format="temoin.entry/v2"),
        lambda o: o.pop("prev"),
        lambda o: o.update(extra=1),
        lambda o: o.update(case_seq=0),
        lambda o: o.update(prev="ABC"),
        lambda o: o.update(data=[]),
    ):
        changed = dict(obj)
        mutate(changed)
        with pytest.raises(EntryFormatError):
            parse_entry(canonical_bytes(changed))
    with pytest.raises(EntryFormatError, match="canonical"):
        parse_entry(raw.replace(b'{"case"', b'{ "case"'))


def test_build_entry_requires_a_consistent_chain() -> None:
    common = dict(log="l", tenant="t", case="c", type="CaseOpened", occurred_at="x",
                  recorded_at="y", source="s", data={}, personal={}, evidence=[])
    with pytest.raises(ValueError, match="prev"):
        build_entry(case_seq=2, prev=None, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prev"):
        build_entry(case_seq=1, prev=b"\x00" * 32, **common)  # type: ignore[arg-type]
