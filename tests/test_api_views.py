"""Timeline, integrity report (JSON and PDF) and evidence bundle over HTTP, and the journal."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

from projections.i18n import translator
from projections.pdf.story import event_name
from verifier.bundle import verify_bundle

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    is_problem,
    new_case,
    upload_example_evidence,
)

pytest_plugins = ("tests.api_server",)

TYPES = ["CaseOpened", "LetterSent", "RecipientNotified", "OtpFailed", "OtpVerified",
         "DocumentRead", "DeliveryPhotoTaken", "WithdrawalRequested", "RefundIssued"]


def _case(api: ApiServer) -> tuple[str, list[int]]:
    case = new_case("VIEW")
    with api.client() as c:
        files = upload_example_evidence(c)
        indices = []
        for t in TYPES:
            r = c.post(f"/v1/cases/{case}/events", json=example(t, files))
            assert r.status_code == 201, r.text
            indices.append(r.json()["index"])
    return case, indices


def test_timeline_now_and_as_of_an_older_size(api: ApiServer) -> None:
    case, indices = _case(api)
    with api.client() as c:
        view = c.get(f"/v1/cases/{case}/timeline").json()
        assert [e["type"] for e in view["entries"]] == TYPES
        assert [e["index"] for e in view["entries"]] == indices
        assert {clock["name"] for clock in view["clocks"]} >= {"withdrawal", "refund"}
        older = c.get(f"/v1/cases/{case}/timeline", params={"size": indices[3]}).json()
        assert [e["index"] for e in older["entries"]] == indices[:3]
        assert older["as_of_size"] == indices[3]
        is_problem(c.get(f"/v1/cases/{case}/timeline", params={"size": 10**9}), 422)
        is_problem(c.get(f"/v1/cases/{case}/timeline", params={"size": -1}), 422)
        is_problem(c.get(f"/v1/cases/{new_case()}/timeline"), 404)


def test_report_json_and_pdf(api: ApiServer) -> None:
    case, _ = _case(api)
    auditor = api.new_key("auditor")
    with api.client(auditor) as c:
        report = c.get(f"/v1/cases/{case}/report").json()
        assert report["verdict"] in ("OK", "WARNING") and report["summary"]["ko"] == 0
        assert report["scope"]["case"] == case
        pdf = c.get(f"/v1/cases/{case}/report", headers={"Accept": "application/pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    # French by default: the verdict and the event types read as words, not codes.
    verdict = {"OK": "OK", "WARNING": "AVERTISSEMENT"}[report["verdict"]]
    assert case in text and verdict in text
    flat = "".join(text.split())
    for entry in report["timeline"]["entries"]:
        assert "".join(event_name(translator("fr"), entry["type"]).split()) in flat
        assert entry["occurred_at"][:10] in text
    # The reads are in the access journal, with who and what.
    actions = [(r["who"], r["action"]) for r in report["access_journal"]]
    assert actions and actions[-1][1] == "read_report"


def test_bundle_from_the_server_verifies_offline_and_tampering_is_named(api: ApiServer) -> None:
    case, indices = _case(api)
    lawyer = api.new_key("lawyer", cases=[case])
    with api.client(lawyer) as c:
        r = c.get(f"/v1/cases/{case}/bundle")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    key = api.services.ledger.key.verifier_key
    report = verify_bundle(r.content, trusted_key=key)
    assert report.ok, [str(x) for x in report.failures]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert {f"entries/{i}.json" for i in indices} <= set(names)
    assert {"timeline.pdf", "report.pdf", "report.json", "HOW-TO-VERIFY.txt"} <= set(names)
    assert any(n.startswith("openings/") for n in names)
    # One byte changed in one entry: the verifier names it.
    src = zipfile.ZipFile(io.BytesIO(r.content))
    out = io.BytesIO()
    target = f"entries/{indices[2]}.json"
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == target:
                data = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
            dst.writestr(info, data)
    bad = verify_bundle(out.getvalue(), trusted_key=key)
    assert not bad.ok
    assert any(target in str(f) or f"index {indices[2]}" in str(f) for f in bad.failures)


def test_reads_are_journaled_and_do_not_grow_the_case_log(api: ApiServer) -> None:
    case, _ = _case(api)
    before = api.tree_size()
    journal_before = api.services.journal.store.tree_size()
    with api.client() as c:
        c.get(f"/v1/cases/{case}").raise_for_status()
        c.get(f"/v1/cases/{case}/entries").raise_for_status()
        c.get(f"/v1/cases/{case}/timeline").raise_for_status()
    assert api.tree_size() == before
    rows = api.services.journal.journal(api.tenant, case)
    assert [r["action"] for r in rows][-3:] == ["read_case", "read_entries", "read_timeline"]
    assert api.services.journal.store.tree_size() == journal_before + 3


def test_timeline_at_a_size_before_the_case_began_says_so(api: ApiServer) -> None:
    """A size at or before the case's first entry: 404, but not the "does not exist" one."""
    other, case = new_case("EARLIER"), new_case("LATER")
    with api.client() as c:
        assert c.post(f"/v1/cases/{other}/events", json=example("CaseOpened")).status_code == 201
        first = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).json()["index"]
        assert first > 0
        assert c.post(f"/v1/cases/{case}/events", json=example("OtpFailed")).status_code == 201
        for size in (0, first - 1, first):
            problem = is_problem(c.get(f"/v1/cases/{case}/timeline", params={"size": size}),
                                 404)
            assert problem["type"].endswith("/case-not-yet"), problem
            assert problem["detail"] == (
                f"case {case!r} had no entries at tree size {size}: its first entry is index "
                f"{first}; ask for a size greater than {first}")
        at_first = c.get(f"/v1/cases/{case}/timeline", params={"size": first + 1})
        assert [e["index"] for e in at_first.json()["entries"]] == [first]
        # A case that never existed, or another tenant's, is still the plain 404 at any size.
        stranger = api.client(api.new_key("admin", tenant="another-shop"))
        for client, name in ((c, new_case("NEVER")), (stranger, case)):
            missing = is_problem(client.get(f"/v1/cases/{name}/timeline",
                                            params={"size": first}), 404)
            assert missing["type"].endswith("/case-not-found"), missing
            assert "does not exist" in missing["detail"]
        stranger.close()
