"""Reading over HTTP: case summaries, entries, log entries, evidence, health and metrics."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    is_problem,
    new_case,
    upload_example_evidence,
)

pytest_plugins = ("tests.api_server",)


def test_case_summary_follows_the_case(api: ApiServer) -> None:
    case = new_case()
    with api.client() as c:
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
        summary = c.get(f"/v1/cases/{case}").json()
        assert summary == {
            "case": case, "tenant": api.tenant, "status": "open", "entries": 1, "last_seq": 1,
            "opened_at": "2025-03-01T09:00:00Z",  # the example's +01:00 time, in UTC
        }
        closed = example("CaseClosed", occurred_at="2025-06-01T12:00:00Z")
        c.post(f"/v1/cases/{case}/events", json=closed).raise_for_status()
        summary = c.get(f"/v1/cases/{case}").json()
    assert summary["status"] == "closed"
    assert summary["entries"] == summary["last_seq"] == 2
    assert summary["closed_at"] == "2025-06-01T12:00:00Z"


def test_entries_are_verbatim_and_hash_to_their_leaf(api: ApiServer) -> None:
    case = new_case()
    with api.client() as c:
        for type_ in ("CaseOpened", "GpsScanRecorded", "WithdrawalRequested"):
            c.post(f"/v1/cases/{case}/events", json=example(type_)).raise_for_status()
        entries = c.get(f"/v1/cases/{case}/entries").json()
        by_index = [c.get(f"/v1/log/entries/{e['index']}").json() for e in entries]
    assert by_index == entries
    for item in entries:
        raw = item["entry"].encode("utf-8")
        assert hashlib.sha256(b"\x00" + raw).hexdigest() == item["leaf_hash"]
        # Canonical form: what was stored is exactly what re-encoding gives.
        value = json.loads(raw)
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical.encode("utf-8") == raw
    gps = json.loads(entries[1]["entry"])
    assert gps["data"]["latitude"] == example("GpsScanRecorded")["data"]["latitude"]


def test_missing_and_malformed_cases(api: ApiServer) -> None:
    with api.client() as c:
        for path in (f"/v1/cases/{new_case()}", f"/v1/cases/{new_case()}/entries"):
            assert is_problem(c.get(path), 404)["type"].endswith("/case-not-found")
        problem = is_problem(c.get("/v1/cases/-bad"), 422)
        assert problem["errors"][0]["loc"] == ["path", "case"]
        assert is_problem(c.get(f"/v1/log/entries/{10**9}"), 404)
        assert is_problem(c.get("/v1/log/entries/-1"), 422)["errors"][0]["loc"] == [
            "path", "index"]


def test_evidence_download_by_role(api: ApiServer) -> None:
    with api.client() as c:
        uploaded = upload_example_evidence(c)
    sha256 = next(iter(uploaded.values()))
    with api.client(api.new_key("auditor")) as auditor:
        r = auditor.get(f"/v1/evidence/{sha256}")
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == sha256
        assert r.headers["content-type"].startswith("application/pdf")
        assert is_problem(auditor.get("/v1/evidence/" + "0" * 64), 404)
        assert is_problem(auditor.get("/v1/evidence/ABC"), 422)
    with api.client(api.new_key("appender")) as appender:
        assert is_problem(appender.get(f"/v1/evidence/{sha256}"), 403)


def test_checkpoint_history_pages_by_size(api: ApiServer) -> None:
    with api.client() as c:
        for _ in range(3):
            c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened")).raise_for_status()
            c.post("/v1/log/checkpoint").raise_for_status()
        history = c.get("/v1/log/checkpoints").json()
        sizes = [h["size"] for h in history]
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
        assert sizes[0] == 0  # signed at start-up, on the empty log
        after = c.get("/v1/log/checkpoints", params={"after": sizes[1]}).json()
        assert [h["size"] for h in after] == sizes[2:]
        assert c.get("/v1/log/checkpoints", params={"after": sizes[-1]}).json() == []
        one = c.get("/v1/log/checkpoints", params={"limit": 1}).json()
        assert [h["size"] for h in one] == sizes[:1]
        assert all(h["note"].startswith("test.example/log\n") for h in history)
        assert is_problem(c.get("/v1/log/checkpoints", params={"limit": 1001}), 422)


def test_health_and_metrics_need_no_key_and_carry_no_tenant_data(api: ApiServer) -> None:
    case = new_case("SECRETCASE")
    with api.client() as c:
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
        c.get(f"/v1/cases/{case}").raise_for_status()
    with api.client("") as anonymous:
        health = anonymous.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "tree_size": api.tree_size()}
        metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    for name in ("temoin_appends_total", "temoin_append_latency_seconds_bucket",
                 "temoin_tree_size", "temoin_checkpoint_age_seconds"):
        assert f"\n{name}" in text
    assert 'route="/v1/cases/{case}/events",status="201"' in text
    assert case not in text and api.tenant not in text and "key_" not in text
    size_line = next(line for line in text.splitlines()
                     if line.startswith('temoin_tree_size{log="1"} '))
    assert int(size_line.split()[1]) == api.tree_size()
