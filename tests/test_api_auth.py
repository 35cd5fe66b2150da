"""The route table of API.md "Authentication": 401, then tenant scope (404), then role (403)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.limits import Limits
from ledger.apikeys import ROLES, parse_token
from ledger.config import Settings

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ORIGIN,
    ApiServer,
    example,
    is_problem,
    new_case,
    running_server,
)

pytest_plugins = ("tests.api_server",)

OTHER_TENANT = "shop-2"


@dataclass
class World:
    """One tenant's case with an evidence file, a lawyer for it, and another tenant's case."""

    api: ApiServer
    case: str  # of the tenant; the lawyer's case
    unlisted: str  # of the tenant, not the lawyer's
    foreign: str  # of the other tenant
    sha256: str  # evidence of `case`
    foreign_sha256: str
    index: int  # leaf index of an entry of `case`
    unlisted_index: int
    foreign_index: int
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def world(sqlite_api: ApiServer) -> World:
    api = sqlite_api
    case, unlisted, foreign = new_case("MINE"), new_case("MINE"), new_case("THEIRS")
    tokens = {role: api.new_key(role, cases=[case] if role == "lawyer" else None)
              for role in ROLES}
    with api.client() as c:
        sha256 = c.post("/v1/evidence", content=b"%PDF mine",
                        headers={"Content-Type": "application/pdf"}).json()["sha256"]
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
        letter = example("LetterSent", evidence=[{"sha256": sha256, "role": "letter"}])
        letter["data"]["document_sha256"] = sha256
        index = c.post(f"/v1/cases/{case}/events", json=letter).json()["index"]
        unlisted_index = c.post(f"/v1/cases/{unlisted}/events",
                                json=example("CaseOpened")).json()["index"]
    with api.client(api.new_key("admin", tenant=OTHER_TENANT)) as other:
        foreign_sha256 = other.post("/v1/evidence", content=b"%PDF theirs",
                                    headers={"Content-Type": "application/pdf"}).json()["sha256"]
        foreign_index = other.post(f"/v1/cases/{foreign}/events",
                                   json=example("CaseOpened")).json()["index"]
    return World(api, case, unlisted, foreign, sha256, foreign_sha256, index, unlisted_index,
                 foreign_index, tokens)


# API.md's table; "scope" marks the routes read in the caller's scope (404 outside it).
TABLE = {
    ("POST", "evidence"): {"appender": 201, "auditor": 403, "lawyer": 403, "admin": 201},
    ("POST", "events"): {"appender": 201, "auditor": 403, "lawyer": 403, "admin": 201},
    ("POST", "batches"): {"appender": 201, "auditor": 403, "lawyer": 403, "admin": 201},
    ("GET", "case"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "entries"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "timeline"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "report"): {"appender": 403, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "bundle"): {"appender": 403, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "evidence"): {"appender": 403, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "log/key"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "log/checkpoint"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "log/checkpoints"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "proofs/inclusion"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("GET", "proofs/consistency"): {"appender": 200, "auditor": 200, "lawyer": 200, "admin": 200},
    ("POST", "log/checkpoint"): {"appender": 200, "auditor": 403, "lawyer": 403, "admin": 200},
    ("GET", "log/entries"): {"appender": 403, "auditor": 200, "lawyer": 403, "admin": 200},
    ("POST", "keys"): {"appender": 403, "auditor": 403, "lawyer": 403, "admin": 201},
}


def _call(w: World, role: str, method: str, what: str) -> int:
    with w.api.client(w.tokens[role]) as c:
        if (method, what) == ("POST", "evidence"):
            r = c.post("/v1/evidence", content=f"file for {role}".encode(),
                       headers={"Content-Type": "text/plain"})
        elif (method, what) == ("POST", "events"):
            r = c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"))
        elif (method, what) == ("POST", "batches"):
            r = c.post("/v1/batches", json={"events": [{"case": new_case(),
                                                        **example("CaseOpened")}]})
        elif what == "case":
            r = c.get(f"/v1/cases/{w.case}")
        elif what in ("entries", "timeline", "report", "bundle"):
            r = c.get(f"/v1/cases/{w.case}/{what}")
        elif (method, what) == ("GET", "evidence"):
            r = c.get(f"/v1/evidence/{w.sha256}")
        elif what == "proofs/inclusion":
            r = c.get("/v1/log/proofs/inclusion", params={"index": 0, "size": 1})
        elif what == "proofs/consistency":
            r = c.get("/v1/log/proofs/consistency", params={"from": 1, "to": 1})
        elif what == "log/entries":
            r = c.get(f"/v1/log/entries/{w.index}")
        elif what == "keys":
            r = c.post("/v1/keys", json={"role": "auditor"})
        else:
            r = c.request(method, f"/v1/{what}")
    if r.status_code >= 400:
        is_problem(r, r.status_code)
    return r.status_code


@pytest.mark.parametrize(("method", "what"), list(TABLE))
def test_route_table(world: World, method: str, what: str) -> None:
    got = {role: _call(world, role, method, what) for role in ROLES}
    assert got == TABLE[(method, what)]


@pytest.mark.parametrize("role", ROLES)
def test_another_tenants_things_do_not_exist(world: World, role: str) -> None:
    with world.api.client(world.tokens[role]) as c:
        for path in (f"/v1/cases/{world.foreign}", f"/v1/cases/{world.foreign}/entries",
                     f"/v1/cases/{world.foreign}/timeline", f"/v1/cases/{world.foreign}/report",
                     f"/v1/cases/{world.foreign}/bundle",
                     f"/v1/evidence/{world.foreign_sha256}",
                     f"/v1/log/entries/{world.foreign_index}"):
            assert is_problem(c.get(path), 404), path


def test_a_lawyer_sees_only_its_cases(world: World) -> None:
    with world.api.client(world.tokens["lawyer"]) as c:
        for path in (f"/v1/cases/{world.unlisted}", f"/v1/cases/{world.unlisted}/entries",
                     f"/v1/cases/{world.unlisted}/timeline", f"/v1/cases/{world.unlisted}/report",
                     f"/v1/cases/{world.unlisted}/bundle",
                     f"/v1/log/entries/{world.unlisted_index}"):
            assert is_problem(c.get(path), 404), path
        assert c.get(f"/v1/cases/{world.case}").status_code == 200


def test_a_lawyer_sees_only_evidence_of_its_cases(world: World) -> None:
    api = world.api
    with api.client() as c:
        other = c.post("/v1/evidence", content=b"unrelated",
                       headers={"Content-Type": "text/plain"}).json()["sha256"]
    with api.client(world.tokens["lawyer"]) as c:
        assert c.get(f"/v1/evidence/{world.sha256}").status_code == 200
        is_problem(c.get(f"/v1/evidence/{other}"), 404)


def test_admin_creates_keys_for_its_tenant(world: World) -> None:
    api = world.api
    with api.client() as c:
        r = c.post("/v1/keys", json={"role": "lawyer", "cases": [world.case]})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["role"] == "lawyer" and created["tenant"] == api.tenant
        assert created["cases"] == [world.case]
        assert parse_token(created["token"]) == created["id"]
        assert r.headers["cache-control"] == "no-store"
        for body, status in (
            ({"role": "auditor", "tenant": OTHER_TENANT}, 403),
            ({"role": "lawyer"}, 422),
            ({"role": "auditor", "cases": [world.case]}, 422),
            ({"role": "root"}, 422),
            ({"role": "auditor", "extra": 1}, 422),
        ):
            is_problem(c.post("/v1/keys", json=body), status)
    with api.client(created["token"]) as lawyer:
        assert lawyer.get(f"/v1/cases/{world.case}").status_code == 200


def test_source_is_the_public_key_id(world: World) -> None:
    token = world.tokens["appender"]
    case = new_case()
    with world.api.client(token) as c:
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
        entry = json.loads(c.get(f"/v1/cases/{case}/entries").json()[0]["entry"])
    assert entry["source"] == parse_token(token)
    assert token not in json.dumps(entry)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[ApiServer]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}",
                        data_dir=tmp_path / "data", origin=ORIGIN)
    with running_server(settings, Limits(rate_limit=2)) as server:
        yield server


def test_rate_limit_per_key(limited: ApiServer) -> None:
    with limited.client() as c:
        statuses = [c.get("/v1/log/key") for _ in range(6)]
    refused = [r for r in statuses if r.status_code == 429]
    assert refused and statuses[0].status_code == 200
    is_problem(refused[0], 429)
    assert int(refused[0].headers["retry-after"]) >= 1
    with limited.client(limited.new_key("auditor")) as other:
        assert other.get("/v1/log/key").status_code == 200  # buckets are per key
