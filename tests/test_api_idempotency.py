"""Idempotency-Key on both append routes (API.md "Appending")."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from ledger.config import Settings

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    is_problem,
    new_case,
    running_server,
)

pytest_plugins = ("tests.api_server",)


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def test_same_request_20_times_concurrently_appends_once(api: ApiServer) -> None:
    case, headers = new_case(), key()
    body = example("CaseOpened")
    size = api.tree_size()

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=api.base_url, timeout=30,
            headers={"Authorization": f"Bearer {api.admin_token}", **headers},
            limits=httpx.Limits(max_connections=20),
        ) as c:
            return list(await asyncio.gather(*(
                c.post(f"/v1/cases/{case}/events", json=body) for _ in range(20))))

    responses = asyncio.run(send_all())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.content for r in responses}) == 1  # every one got the first answer
    assert api.tree_size() == size + 1


def test_replay_ignores_key_order_and_white_space(api: ApiServer) -> None:
    case, headers = new_case(), key()
    body = example("CaseOpened")
    with api.client() as c:
        first = c.post(f"/v1/cases/{case}/events", json=body, headers=headers)
        assert first.status_code == 201
        size = api.tree_size()
        reordered = json.dumps(dict(reversed(body.items())), indent=2).encode()
        again = c.post(f"/v1/cases/{case}/events", content=reordered,
                       headers={**headers, "Content-Type": "application/json"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert api.tree_size() == size


def test_same_key_other_body_is_409(api: ApiServer) -> None:
    case, headers = new_case(), key()
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"),
                      headers=headers).status_code == 201
        size = api.tree_size()
        other = c.post(f"/v1/cases/{case}/events", json=example("WithdrawalRequested"),
                       headers=headers)
        assert is_problem(other, 409)["type"].endswith("/idempotency-conflict")
        # The same body on another case or route is another request too.
        is_problem(c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"),
                          headers=headers), 409)
        is_problem(c.post("/v1/batches", json={"events": [{"case": case,
                                                           **example("CaseOpened")}]},
                          headers=headers), 409)
    assert api.tree_size() == size


def test_batch_replay(api: ApiServer) -> None:
    case, headers = new_case(), key()
    batch = {"events": [{"case": case, **example("CaseOpened")},
                        {"case": case, **example("WithdrawalRequested")}]}
    with api.client() as c:
        first = c.post("/v1/batches", json=batch, headers=headers)
        assert first.status_code == 201
        size = api.tree_size()
        again = c.post("/v1/batches", json=batch, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert api.tree_size() == size


def test_keys_are_scoped_to_the_tenant(api: ApiServer) -> None:
    headers = key()
    with api.client() as c:
        assert c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"),
                      headers=headers).status_code == 201
    with api.client(api.new_key("appender", tenant="shop-idem")) as other:
        r = other.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"),
                       headers=headers)
    assert r.status_code == 201


def test_a_failed_request_does_not_use_up_its_key(api: ApiServer) -> None:
    case, headers = new_case(), key()
    with api.client() as c:
        is_problem(c.post(f"/v1/cases/{case}/events", json=example("WithdrawalRequested"),
                          headers=headers), 404)
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
        retried = c.post(f"/v1/cases/{case}/events", json=example("WithdrawalRequested"),
                         headers=headers)
    assert retried.status_code == 201


def test_the_answer_survives_a_restart(settings: Settings) -> None:
    case, headers = new_case(), key()
    with running_server(settings) as server, server.client() as c:
        first = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"), headers=headers)
        assert first.status_code == 201
        token = server.admin_token
    with running_server(settings) as server, server.client(token) as c:
        again = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"), headers=headers)
        assert again.status_code == 200 and again.json() == first.json()
        assert server.tree_size() == 1
