"""Appending over HTTP: events, batches, evidence, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ledger.apikeys import parse_token
from ledger.events.examples import EXAMPLES

# Before the import, so that the helpers' asserts explain their failures too.
pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    is_problem,
    new_case,
    upload_example_evidence,
)

pytest_plugins = ("tests.api_server",)

RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def leaf_hash(entry: str) -> str:
    return hashlib.sha256(b"\x00" + entry.encode("utf-8")).hexdigest()


def test_every_event_type_appends_in_order(api: ApiServer) -> None:
    case = new_case()
    with api.client() as c:
        evidence = upload_example_evidence(c)
        receipts = []
        for type_ in EXAMPLES:  # CaseOpened first, CaseClosed then PersonalDataErased last
            r = c.post(f"/v1/cases/{case}/events", json=example(type_, evidence))
            assert r.status_code == 201, (type_, r.text)
            assert r.headers["content-type"] == "application/json"
            receipts.append(r.json())
        entries = c.get(f"/v1/cases/{case}/entries").json()
    assert [r["case_seq"] for r in receipts] == list(range(1, len(EXAMPLES) + 1))
    assert all(r["case"] == case and RECORDED_AT.fullmatch(r["recorded_at"]) for r in receipts)
    indices = [r["index"] for r in receipts]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert [e["index"] for e in entries] == indices
    for receipt, entry in zip(receipts, entries, strict=True):
        assert receipt["leaf_hash"] == entry["leaf_hash"] == leaf_hash(entry["entry"])
        parsed = json.loads(entry["entry"])
        assert parsed["case_seq"] == receipt["case_seq"]
        assert parsed["recorded_at"] == receipt["recorded_at"]


def test_entry_records_the_key_and_never_personal_data_in_clear(api: ApiServer) -> None:
    case = new_case()
    body = example("CaseOpened")
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events", json=body).status_code == 201
        entry_text = c.get(f"/v1/cases/{case}/entries").json()[0]["entry"]
    entry = json.loads(entry_text)
    assert entry["source"] == parse_token(api.admin_token)
    assert entry["tenant"] == api.tenant
    for value in body["personal"].values():
        assert value not in entry_text
    assert set(entry["personal"]) == set(body["personal"])
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in entry["personal"].values())


def test_evidence_is_attached_with_its_media_type_and_size(api: ApiServer) -> None:
    case = new_case()
    content = b"%PDF-1.7\n" + case.encode()
    with api.client() as c:
        r = c.post("/v1/evidence", content=content, headers={"Content-Type": "Application/PDF"})
        assert r.status_code == 201, r.text
        info = r.json()
        assert info == {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content),
                        "media_type": "application/pdf"}
        again = c.post("/v1/evidence", content=content, headers={"Content-Type": "application/pdf"})
        assert again.status_code == 200 and again.json() == info
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
        letter = example("LetterSent")
        letter["data"]["document_sha256"] = info["sha256"]
        letter["evidence"] = [{"sha256": info["sha256"], "role": "letter"}]
        assert c.post(f"/v1/cases/{case}/events", json=letter).status_code == 201
        entry = json.loads(c.get(f"/v1/cases/{case}/entries").json()[1]["entry"])
        assert entry["evidence"] == [{"sha256": info["sha256"], "media_type": "application/pdf",
                                      "size": len(content), "role": "letter"}]
        downloaded = c.get(f"/v1/evidence/{info['sha256']}")
    assert downloaded.status_code == 200
    assert downloaded.content == content
    assert downloaded.headers["content-type"].startswith("application/pdf")


def test_expected_seq(api: ApiServer) -> None:
    case = new_case()
    with api.client() as c:
        opened = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened", expected_seq=0))
        assert opened.status_code == 201, opened.text
        ok = c.post(f"/v1/cases/{case}/events",
                    json=example("WithdrawalRequested", expected_seq=1))
        assert ok.status_code == 201 and ok.json()["case_seq"] == 2
        size = api.tree_size()
        stale = c.post(f"/v1/cases/{case}/events",
                       json=example("WithdrawalAcknowledged", expected_seq=1))
        problem = is_problem(stale, 409)
        assert problem["type"].endswith("/sequence-conflict")
        assert "case_seq 2" in problem["detail"]
        assert api.tree_size() == size


def test_case_lifecycle_rules(api: ApiServer) -> None:
    case = new_case()
    with api.client() as c:
        size = api.tree_size()
        missing = c.post(f"/v1/cases/{case}/events", json=example("WithdrawalRequested"))
        assert is_problem(missing, 404)["type"].endswith("/case-not-found")
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).status_code == 201
        again = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"))
        assert is_problem(again, 409)["type"].endswith("/case-conflict")
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseClosed")).status_code == 201
        late = c.post(f"/v1/cases/{case}/events", json=example("RefundIssued"))
        assert is_problem(late, 409)["type"].endswith("/case-conflict")
        erased = c.post(f"/v1/cases/{case}/events", json=example("PersonalDataErased"))
        assert erased.status_code == 201
        assert api.tree_size() == size + 3


def test_batch_appends_several_cases_in_order(api: ApiServer) -> None:
    first, second = new_case("B"), new_case("B")
    events = [
        {"case": first, **example("CaseOpened")},
        {"case": second, **example("CaseOpened")},
        {"case": first, **example("WithdrawalRequested")},
        {"case": second, **example("CaseClosed")},
    ]
    with api.client() as c:
        r = c.post("/v1/batches", json={"events": events})
    assert r.status_code == 201, r.text
    results = r.json()["results"]
    assert [(x["case"], x["case_seq"]) for x in results] == [
        (first, 1), (second, 1), (first, 2), (second, 2)]
    indices = [x["index"] for x in results]
    assert indices == list(range(indices[0], indices[0] + 4))  # one transaction, contiguous


def test_batch_is_all_or_nothing(api: ApiServer) -> None:
    case, unknown = new_case("B"), new_case("B")
    events = [
        {"case": case, **example("CaseOpened")},
        {"case": case, **example("WithdrawalRequested")},
        {"case": unknown, **example("RefundIssued")},
    ]
    size = api.tree_size()
    with api.client() as c:
        problem = is_problem(c.post("/v1/batches", json={"events": events}), 404)
        assert problem["position"] == 2
        assert unknown in problem["detail"]
        assert api.tree_size() == size
        assert c.get(f"/v1/cases/{case}").status_code == 404


def test_batch_reports_every_invalid_event(api: ApiServer) -> None:
    case = new_case("B")
    events: list[Any] = [
        {"case": case, **example("CaseOpened")},
        {"case": case, **example("RefundIssued", data={"amount_cents": -1, "currency": "EUR",
                                                       "transaction_id": "t"})},
        "not an object",
        {"case": "bad case id!", **example("CaseClosed")},
    ]
    size = api.tree_size()
    with api.client() as c:
        problem = is_problem(c.post("/v1/batches", json={"events": events}), 422)
    assert problem["position"] == 1
    locs = [tuple(e["loc"]) for e in problem["errors"]]
    assert ("body", "events", 1, "data", "amount_cents") in locs
    assert ("body", "events", 2) in locs
    assert ("body", "events", 3, "case") in locs
    assert api.tree_size() == size


def test_concurrent_appends_get_dense_distinct_indices(api: ApiServer) -> None:
    cases = [new_case("P") for _ in range(40)]
    size = api.tree_size()

    def open_case(case: str) -> dict[str, Any]:
        with api.client() as c:
            r = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"))
            assert r.status_code == 201, r.text
            return dict(r.json())

    with ThreadPoolExecutor(max_workers=20) as pool:
        receipts = list(pool.map(open_case, cases))
    assert sorted(r["index"] for r in receipts) == list(range(size, size + len(cases)))
    assert api.tree_size() == size + len(cases)
