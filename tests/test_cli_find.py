"""`temoin cases`, `temoin keys list`, `temoin keys revoke` through the real command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ledger.apikeys import authenticate, create_key
from ledger.config import Settings
from ledger.events.examples import EXAMPLES
from ledger.events.validate import validate_append
from ledger.ledger import AppendRequest, Ledger
from scripts.demo import SCENARIOS
from scripts.demo import TENANT as DEMO_TENANT
from tests.e2e import temoin


def _open_case(ledger: Ledger, tenant: str, case: str) -> None:
    body = EXAMPLES["CaseOpened"]
    event = validate_append("CaseOpened", "2025-05-01T00:00:00Z", body["data"], body["personal"],
                            [], now=datetime.now(UTC))
    ledger.append([AppendRequest(tenant, "test", case, event)])


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    assert temoin(settings, "demo").returncode == 0
    ledger = Ledger(settings)
    try:
        _open_case(ledger, "other-shop", "OTHER-1")
        _open_case(ledger, "other-shop", "demo-withdrawal-lower")
    finally:
        ledger.close()
    return settings


def test_cases_lists_every_tenant_or_one(loaded: Settings) -> None:
    everything = json.loads(temoin(loaded, "cases", "--json").stdout)
    assert [(r["tenant"], r["case"]) for r in everything] == [
        *((DEMO_TENANT, case) for case in sorted(SCENARIOS)),
        ("other-shop", "OTHER-1"), ("other-shop", "demo-withdrawal-lower")]
    demo = json.loads(temoin(loaded, "cases", "--tenant", DEMO_TENANT, "--json").stdout)
    assert [r["case"] for r in demo] == sorted(SCENARIOS)
    ledger = Ledger(loaded)
    try:
        for row in demo:
            case = ledger.case(DEMO_TENANT, row["case"])
            assert case is not None
            assert (row["status"], row["last_seq"], row["opened_at"]) == (
                case.status, case.version, case.opened_at)
    finally:
        ledger.close()
    assert any(r["status"] == "closed" for r in demo)
    closed = json.loads(temoin(loaded, "cases", "--status", "closed", "--json").stdout)
    assert [r["case"] for r in closed] == [r["case"] for r in demo if r["status"] == "closed"]
    found = json.loads(temoin(loaded, "cases", "--q", "WITHDRAWAL", "--json").stdout)
    assert [(r["tenant"], r["case"]) for r in found] == [
        (DEMO_TENANT, "DEMO-WITHDRAWAL-001"), ("other-shop", "demo-withdrawal-lower")]
    out = temoin(loaded, "cases", "--limit", "2")
    assert len(out.stdout.splitlines()) == 2 and "raise --limit" in out.stderr
    assert "DEMO-DELIVERY-004" in out.stdout.splitlines()[0]
    none = temoin(loaded, "cases", "--tenant", "nobody")
    assert none.stdout == "" and "no case matches" in none.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--status", "pending"], "--status: status must be one of open, closed"),
    (["--opened-after", "yesterday"], "--opened-after: opened_after must be an RFC 3339"),
    (["--opened-before", "2025-01-01T00:00:00"], "no time zone"),
    (["--q", "a b"], "--q: q searches case ids"),
    (["--limit", "0"], "--limit: must be a whole number"),
    (["--limit", "x"], "--limit: must be a whole number"),
    (["--tenant", "bad tenant"], "--tenant must be"),
    (["--colour"], "unrecognized arguments"),
])
def test_cases_bad_input_exits_2(loaded: Settings, args: list[str], says: str) -> None:
    out = temoin(loaded, "cases", *args, check=False)
    assert out.returncode == 2, out
    assert says in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_keys_list_and_revoke(settings: Settings) -> None:
    ledger = Ledger(settings)
    try:
        admin_id, admin = create_key(ledger.store, "admin", "shop-a")
        lawyer_id, lawyer = create_key(ledger.store, "lawyer", "shop-a", ["C-1"])
        other_id, other = create_key(ledger.store, "appender", "shop-b")
    finally:
        ledger.close()
    listed = json.loads(temoin(settings, "keys", "list", "--json").stdout)
    assert [k["id"] for k in listed] == [admin_id, lawyer_id, other_id]
    text = json.dumps(listed) + temoin(settings, "keys", "list").stdout
    for token in (admin, lawyer, other):
        # The random part, after "tm_key_<12 hex>_" (base64url: it may itself hold "_").
        assert token not in text and token[20:] not in text
    only_a = json.loads(temoin(settings, "keys", "list", "--tenant", "shop-a", "--json").stdout)
    assert [k["id"] for k in only_a] == [admin_id, lawyer_id]
    assert only_a[1]["cases"] == ["C-1"] and only_a[1]["revoked_at"] is None

    out = temoin(settings, "keys", "revoke", lawyer_id)
    assert "revoked lawyer key" in out.stderr
    again = temoin(settings, "keys", "revoke", lawyer_id)
    assert again.returncode == 0 and "already revoked" in again.stderr
    listed = {k["id"]: k for k in json.loads(temoin(settings, "keys", "list", "--json").stdout)}
    assert listed[lawyer_id]["revoked_by"] == "cli" and listed[lawyer_id]["revoked_at"]
    assert listed[admin_id]["revoked_at"] is None
    assert f"revoked {listed[lawyer_id]['revoked_at']} by cli" in temoin(
        settings, "keys", "list").stdout
    ledger = Ledger(settings)
    try:
        assert authenticate(ledger.store, lawyer) is None
        assert authenticate(ledger.store, admin) is not None
        assert authenticate(ledger.store, other) is not None
    finally:
        ledger.close()


@pytest.mark.parametrize(("args", "says"), [
    (["revoke", "key_000000000000"], "no key 'key_000000000000'"),
    (["revoke", "key_XYZ"], "a key id is 'key_' then 12 lowercase hex digits"),
    (["revoke", "tm_key_0123456789ab_secret"], "a key id is"),
    (["revoke"], "the following arguments are required: id"),
    (["list", "--tenant", "a/b"], "--tenant must be"),
])
def test_keys_bad_input_exits_2(settings: Settings, args: list[str], says: str) -> None:
    out = temoin(settings, "keys", *args, check=False)
    assert out.returncode == 2, out
    assert says in out.stderr and "Traceback" not in out.stderr
