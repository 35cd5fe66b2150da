"""`GET /v1/keys` and `DELETE /v1/keys/{key_id}` over HTTP on a real server, both backends."""

from __future__ import annotations

import uuid

import pytest

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, is_problem  # noqa: E402

pytest_plugins = ("tests.api_server",)


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def key_id(token: str) -> str:
    return token[3:19]


def test_admin_lists_its_tenant_keys_never_a_token_or_hash(api: ApiServer) -> None:
    tenant, other = new_tenant(), new_tenant()
    admin = api.new_key("admin", tenant)
    tokens = [api.new_key("appender", tenant), api.new_key("lawyer", tenant, ["L-1", "L-2"]),
              api.new_key("auditor", tenant)]
    other_token = api.new_key("admin", other)
    with api.client(admin) as c:
        r = c.post("/v1/keys", json={"role": "auditor"})
        assert r.status_code == 201, r.text
        tokens.append(r.json()["token"])
        r = c.get("/v1/keys")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert {i["id"] for i in items} == {key_id(t) for t in [admin, *tokens]}
    for item in items:
        assert set(item) == {"id", "role", "tenant", "cases", "created_at", "revoked_at",
                             "revoked_by"}
        assert item["tenant"] == tenant and item["revoked_at"] is None
    lawyer = next(i for i in items if i["role"] == "lawyer")
    assert lawyer["cases"] == ["L-1", "L-2"]
    stored = api.services.ledger.store._query("SELECT token_hash FROM api_keys")
    for secret in [*tokens, admin, other_token, *(row[0] for row in stored)]:
        assert secret not in r.text
    # The random part alone (after "tm_key_<12 hex>_"): it is base64url, so it may itself hold
    # "_" and cannot be found by splitting on "_".
    for token in [*tokens, admin, other_token]:
        assert token[20:] not in r.text
    assert key_id(other_token) not in r.text


@pytest.mark.parametrize("role", ["appender", "auditor", "lawyer"])
def test_only_admins_list_and_revoke(api: ApiServer, role: str) -> None:
    tenant = new_tenant()
    victim = api.new_key("appender", tenant)
    token = api.new_key(role, tenant, ["X-1"] if role == "lawyer" else None)
    with api.client(token) as c:
        assert "may not list or revoke API keys" in is_problem(c.get("/v1/keys"), 403)["detail"]
        is_problem(c.delete(f"/v1/keys/{key_id(victim)}"), 403)
    with api.client(victim) as c:
        assert c.get("/v1/log/key").status_code == 200


def test_revocation_is_at_once_recorded_and_idempotent(api: ApiServer) -> None:
    tenant, other = new_tenant(), new_tenant()
    admin = api.new_key("admin", tenant)
    victim, bystander = api.new_key("appender", tenant), api.new_key("auditor", tenant)
    other_key = api.new_key("appender", other)
    with api.client(victim) as v:
        # Seen (and, before revocations existed, cached) by the server before it is revoked.
        for _ in range(3):
            assert v.get("/v1/log/key").status_code == 200
    with api.client(admin) as c:
        r = c.delete(f"/v1/keys/{key_id(victim)}")
        assert r.status_code == 204 and r.content == b""
    with api.client(victim) as v:
        for path in ("/v1/log/key", "/v1/cases", "/v1/log/checkpoint"):
            body = is_problem(v.get(path), 401)
            assert "revoked" in body["detail"]
    with api.client(bystander) as b:
        assert b.get("/v1/log/key").status_code == 200
    with api.client(admin) as c:
        listed = {i["id"]: i for i in c.get("/v1/keys").json()["items"]}
        first = listed[key_id(victim)]
        assert first["revoked_at"] and first["revoked_by"] == key_id(admin)
        assert listed[key_id(bystander)]["revoked_at"] is None
        # Again: 204, and the first record (when, by whom) stays.
        assert c.delete(f"/v1/keys/{key_id(victim)}").status_code == 204
        again = {i["id"]: i for i in c.get("/v1/keys").json()["items"]}[key_id(victim)]
        assert again == first
        # Another tenant's key, like an unknown one, does not exist here.
        is_problem(c.delete(f"/v1/keys/{key_id(other_key)}"), 404)
        is_problem(c.delete("/v1/keys/key_000000000000"), 404)
        for bad in ("key_XYZ", "key_0123456789AB", "tm_key_0123456789ab", "k" * 200):
            body = is_problem(c.delete(f"/v1/keys/{bad}"), 422)
            assert body["errors"][0]["loc"] == ["path", "key_id"]
    with api.client(other_key) as o:
        assert o.get("/v1/log/key").status_code == 200


def test_an_admin_may_revoke_its_own_key(api: ApiServer) -> None:
    tenant = new_tenant()
    admin, spare = api.new_key("admin", tenant), api.new_key("admin", tenant)
    with api.client(admin) as c:
        assert c.delete(f"/v1/keys/{key_id(admin)}").status_code == 204
        is_problem(c.get("/v1/keys"), 401)
    with api.client(spare) as c:
        item = {i["id"]: i for i in c.get("/v1/keys").json()["items"]}[key_id(admin)]
    assert item["revoked_by"] == key_id(admin)


def test_key_routes_need_a_key(api: ApiServer) -> None:
    with api.client("") as c:
        is_problem(c.get("/v1/keys"), 401)
        is_problem(c.delete("/v1/keys/key_000000000000"), 401)
