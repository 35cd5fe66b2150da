"""`GET /v1/cases` over HTTP on a real server, both backends: scope, pages, filters, bad input.

Each test works in tenants of its own (a fresh name), so the module's shared server and the
other tests' cases cannot change its counts.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, example, is_problem  # noqa: E402

pytest_plugins = ("tests.api_server",)


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def client(api: ApiServer, token: str) -> httpx.Client:
    return api.client(token)


def open_cases(c: httpx.Client, cases: list[str], occurred_at: str | None = None) -> None:
    """Open cases in batches of at most 1,000 events (one request each)."""
    for start in range(0, len(cases), 500):
        events = [
            {"case": case, **example("CaseOpened", **(
                {"occurred_at": occurred_at} if occurred_at else {}))}
            for case in cases[start:start + 500]
        ]
        r = c.post("/v1/batches", json={"events": events})
        assert r.status_code == 201, r.text


def list_all(c: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = c.get("/v1/cases", params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next_cursor"}
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["case"] for item in items]


def test_every_role_sees_its_tenant_and_a_lawyer_its_cases(api: ApiServer) -> None:
    mine, other = new_tenant(), new_tenant()
    my_cases = sorted(f"M-{i}" for i in range(5))
    with client(api, api.new_key("admin", mine)) as c:
        open_cases(c, my_cases)
    with client(api, api.new_key("appender", other)) as c:
        # Same ids in another tenant, and ids of its own: none may show in `mine`.
        open_cases(c, [*my_cases[:2], "O-1", "O-2"])
        assert ids(list_all(c)) == ["M-0", "M-1", "O-1", "O-2"]
    for role in ("appender", "auditor", "admin"):
        with client(api, api.new_key(role, mine)) as c:
            assert ids(list_all(c)) == my_cases, role
    lawyer = api.new_key("lawyer", mine, ["M-1", "M-3", "O-1", "never-opened"])
    with client(api, lawyer) as c:
        items = list_all(c)
        assert ids(items) == ["M-1", "M-3"]
        assert ids(list_all(c, q="M", limit=1)) == ["M-1", "M-3"]
    assert items[0] == {"case": "M-1", "status": "open", "entries": 1, "last_seq": 1,
                        "opened_at": "2025-03-01T09:00:00Z", "closed_at": None}


def test_listing_is_not_journaled(api: ApiServer) -> None:
    tenant = new_tenant()
    with client(api, api.new_key("admin", tenant)) as c:
        open_cases(c, ["J-1"])
        before = api.services.journal.store.tree_size()
        assert ids(list_all(c)) == ["J-1"]
        assert api.services.journal.store.tree_size() == before


def test_pages_return_each_case_once_while_cases_are_opened(api: ApiServer) -> None:
    tenant = new_tenant()
    cases = sorted(f"P-{i:04d}" for i in range(120))
    with client(api, api.new_key("admin", tenant)) as c:
        open_cases(c, cases)
        first = c.get("/v1/cases").json()
        assert len(first["items"]) == 50 and first["next_cursor"]  # the default page
        assert len(c.get("/v1/cases", params={"limit": 500}).json()["items"]) == 120
        seen: list[str] = []
        added_ahead: list[str] = []
        cursor = None
        page = 0
        while True:
            r = c.get("/v1/cases", params={"limit": 7, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            body = r.json()
            seen.extend(ids(body["items"]))
            cursor = body["next_cursor"]
            if cursor is None:
                break
            # Between pages: a case behind the cursor, one ahead of it, and an append to a
            # case already listed. None may repeat or hide a case that existed throughout.
            page += 1
            behind, ahead = f"A-{page:03d}", f"Z-{page:03d}"
            open_cases(c, [behind, ahead])
            added_ahead.append(ahead)
            r = c.post(f"/v1/cases/{seen[0]}/events", json=example("OtpFailed"))
            assert r.status_code == 201, r.text
    assert len(seen) == len(set(seen)), "a case was listed twice"
    assert [s for s in seen if s.startswith("P-")] == cases
    assert not [s for s in seen if s.startswith("A-")]
    assert [s for s in seen if s.startswith("Z-")] == added_ahead
    assert len(seen) == 120 + page and page >= 120 // 7


def test_filters(api: ApiServer) -> None:
    tenant = new_tenant()
    with client(api, api.new_key("admin", tenant)) as c:
        open_cases(c, ["F-early"], "2025-01-10T08:00:00Z")
        open_cases(c, ["F-frac"], "2025-02-01T00:00:00.500000Z")
        open_cases(c, ["F-whole"], "2025-02-01T00:00:01Z")
        open_cases(c, ["f_low", "FXlow"], "2025-03-01T10:00:00+01:00")
        closed = example("CaseClosed", occurred_at="2025-06-01T12:00:00Z")
        assert c.post("/v1/cases/F-whole/events", json=closed).status_code == 201
        assert ids(list_all(c, status="closed")) == ["F-whole"]
        assert list_all(c, status="closed")[0]["closed_at"] == "2025-06-01T12:00:00Z"
        assert ids(list_all(c, status="open")) == ["F-early", "F-frac", "FXlow", "f_low"]
        # Times compare as instants, whatever their rendering (whole seconds or not, offsets).
        assert ids(list_all(c, opened_after="2025-02-01T00:00:00.5Z")) == [
            "F-frac", "F-whole", "FXlow", "f_low"]
        assert ids(list_all(c, opened_after="2025-02-01T00:00:00.500001Z")) == [
            "F-whole", "FXlow", "f_low"]
        assert ids(list_all(c, opened_before="2025-02-01T01:00:00+01:00")) == ["F-early"]
        assert ids(list_all(c, opened_after="2025-02-01T00:00:00Z",
                            opened_before="2025-02-01T00:00:01Z")) == ["F-frac"]
        # q: a case-insensitive substring of the id; `_` is a character, not a wildcard.
        assert ids(list_all(c, q="f_")) == ["f_low"]
        assert ids(list_all(c, q="LOW")) == ["FXlow", "f_low"]
        assert ids(list_all(c, q="nothing")) == []
        # Filters hold on every page.
        assert ids(list_all(c, status="open", q="f", limit=1)) == [
            "F-early", "F-frac", "FXlow", "f_low"]


def _cursor_of(c: httpx.Client, **params: Any) -> str:
    body = c.get("/v1/cases", params={"limit": 1, **params}).json()
    assert body["next_cursor"], body
    return str(body["next_cursor"])


BAD = [
    ({"status": "opened"}, "status"),
    ({"status": ""}, "status"),
    ({"opened_after": "2025-01-01"}, "opened_after"),
    ({"opened_after": "2025-01-01T00:00:00"}, "opened_after"),
    ({"opened_before": "2025-02-30T00:00:00Z"}, "opened_before"),
    ({"opened_after": "2025-02-01T00:00:00Z", "opened_before": "2025-01-01T00:00:00Z"},
     "opened_before"),
    ({"q": ""}, "q"),
    ({"q": "a%"}, "q"),
    ({"q": "x" * 129}, "q"),
    ({"q": "Camille Dubois"}, "q"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "1.0"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"cursor": "not a cursor"}, "cursor"),
    ({"cursor": "eyJ2IjoxfQ"}, "cursor"),  # base64 JSON of the wrong shape
    ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=")}, "cursor"),
    ({"cursor": "A" * 2000}, "cursor"),
    ({"stauts": "open"}, "stauts"),
]


@pytest.mark.parametrize(("params", "field"), BAD)
def test_bad_parameters_are_422_naming_them(api: ApiServer, params: dict[str, str],
                                            field: str) -> None:
    with api.client() as c:
        body = is_problem(c.get("/v1/cases", params=params), 422)
    assert [e["loc"] for e in body["errors"]] == [["query", field]], body
    assert field in body["detail"]


def test_cursors_of_another_tenant_or_other_filters_are_refused(api: ApiServer) -> None:
    mine, other = new_tenant(), new_tenant()
    my_admin, other_admin = api.new_key("admin", mine), api.new_key("admin", other)
    with client(api, my_admin) as c:
        open_cases(c, ["K-1", "K-2"])
        mine_cursor = _cursor_of(c)
        filtered_cursor = _cursor_of(c, q="K")
    with client(api, other_admin) as c:
        open_cases(c, ["K-1", "K-2"])
        other_cursor = _cursor_of(c)
        body = is_problem(c.get("/v1/cases", params={"cursor": mine_cursor}), 422)
        assert "another tenant" in body["detail"]
        # A cursor rewritten to name this tenant is merely a position: still only own cases.
        forged = json.loads(base64.urlsafe_b64decode(mine_cursor + "==="))
        forged["t"] = other
        text = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        assert ids(c.get("/v1/cases", params={"cursor": text}).json()["items"]) == ["K-2"]
    with client(api, my_admin) as c:
        assert is_problem(c.get("/v1/cases", params={"cursor": other_cursor}), 422)
        body = is_problem(c.get("/v1/cases", params={"cursor": filtered_cursor}), 422)
        assert "other filters" in body["detail"]
        assert ids(c.get("/v1/cases", params={"cursor": filtered_cursor, "q": "K"}).json()[
            "items"]) == ["K-2"]
        r = c.get("/v1/cases?status=open&status=closed")
        assert is_problem(r, 422)["errors"][0]["loc"] == ["query", "status"]


def test_listing_needs_a_key(api: ApiServer) -> None:
    with api.client("") as c:
        is_problem(c.get("/v1/cases"), 401)
    with api.client("tm_key_000000000000_" + "A" * 43) as c:
        is_problem(c.get("/v1/cases"), 401)


def test_each_log_lists_its_own_cases(api: ApiServer) -> None:
    """A log created while the server runs (`temoin logs create`): its tenant's case list is
    its own log's, projected by the server's follower (thread mode here; tests/
    test_api_many_logs.py runs `temoin serve`'s child process), and the tenant of log 1 next to
    it lists only its own cases."""
    from ledger.logs import LogSet

    here, there = new_tenant(), new_tenant()
    logs = LogSet(api.settings)
    try:
        log_id = logs.create(f"test.example/{there}", [there]).store.log_id
    finally:
        logs.close()
    assert log_id > 1
    with client(api, api.new_key("admin", here)) as ch, \
            client(api, api.new_key("admin", there)) as ct:
        open_cases(ch, ["H-2", "H-1"])
        open_cases(ct, ["T-1", "T-3", "T-2"])
        assert ids(list_all(ct)) == ["T-1", "T-2", "T-3"]
        assert ids(list_all(ch)) == ["H-1", "H-2"]
        # The same leaf index in both logs, each in its own projection.
        assert ct.get("/v1/log/entries/0").status_code == 200
        r = ct.post("/v1/cases/T-1/events", json=example("CaseClosed"))
        assert r.status_code == 201, r.text
        assert ids(list_all(ct, status="closed")) == ["T-1"]
        assert list_all(ch, status="closed") == []
