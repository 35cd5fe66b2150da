"""Every failure is RFC 9457 problem+json, with the status of API.md, and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.limits import Limits
from ledger.config import Settings
from ledger.errors import BusyError, DatabaseUnavailableError

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ORIGIN,
    ApiServer,
    example,
    is_problem,
    new_case,
    running_server,
)
from tests.conftest import PG_ADMIN_URL, pg_database  # noqa: E402

pytest_plugins = ("tests.api_server",)

SMALL = Limits(max_event_body=2048, max_batch_body=8192, max_batch_events=5, max_evidence=1000)
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server with tiny limits, to exceed them cheaply."""
    directory = tmp_path_factory.mktemp("small")
    settings = Settings(database_url=f"sqlite:///{directory / 't.db'}",
                        data_dir=directory / "data", origin=ORIGIN)
    with running_server(settings, SMALL) as server:
        yield server


class Unchanged:
    """Asserts on exit that the log, the evidence and the idempotency records did not grow."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api

    def _state(self) -> tuple[int, int, int]:
        return (self.api.tree_size(), self.api.count("evidence"), self.api.count("idempotency"))

    def __enter__(self) -> None:
        self.before = self._state()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert self._state() == self.before, "a failed request stored something"


def opened_case(api: ApiServer) -> str:
    case = new_case()
    with api.client() as c:
        c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
    return case


# -- 400 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"type": "CaseOpened", ', b"\xff\xfe{}", b'{"type": "CaseOpened"} trailing', b"",
    b'\xef\xbb\xbf{"type": "CaseOpened"}', b"{'type': 'CaseOpened'}",
], ids=["truncated", "bad-utf8", "trailing", "empty", "bom", "single-quotes"])
def test_400_malformed_json(api: ApiServer, body: bytes) -> None:
    case = opened_case(api)
    with Unchanged(api), api.client() as c:
        problem = is_problem(c.post(f"/v1/cases/{case}/events", content=body, headers=JSON), 400)
        assert problem["type"].endswith("/malformed-json")
        batch = c.post("/v1/batches", content=body, headers=JSON)
        assert is_problem(batch, 400)


# -- 401 / 403 ------------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz",
    "Bearer tm_key_000000000000_" + "A" * 43,
], ids=["missing", "empty", "malformed", "basic", "unknown"])
def test_401_without_a_valid_key(api: ApiServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with Unchanged(api), httpx.Client(base_url=api.base_url) as c:
        r = c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"), headers=headers)
        is_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_401_with_a_wrong_secret_for_a_real_key(api: ApiServer) -> None:
    token = api.new_key("admin")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with api.client(forged) as c:
        is_problem(c.get("/v1/log/key"), 401)


def test_403_for_a_role_without_the_right(api: ApiServer) -> None:
    with Unchanged(api), api.client(api.new_key("auditor")) as c:
        problem = is_problem(
            c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened")), 403
        )
        assert "auditor" in problem["detail"] and "appender" in problem["detail"]


# -- 404 / 405 / 409 ------------------------------------------------------------------------

def test_404_and_405_of_the_router_are_problems(api: ApiServer) -> None:
    with api.client() as c:
        is_problem(c.get("/v1/nothing-here"), 404)
        is_problem(c.get("/nothing-here"), 404)
        is_problem(c.delete(f"/v1/cases/{new_case()}"), 405)


def test_404_for_an_event_of_a_missing_case(api: ApiServer) -> None:
    with Unchanged(api), api.client() as c:
        r = c.post(f"/v1/cases/{new_case()}/events", json=example("WithdrawalRequested"))
        assert "CaseOpened" in is_problem(r, 404)["detail"]


def test_409_for_a_second_case_opened(api: ApiServer) -> None:
    case = opened_case(api)
    with Unchanged(api), api.client() as c:
        is_problem(c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")), 409)


# -- 413 ------------------------------------------------------------------------------------

def test_413_event_body_above_64_kib(api: ApiServer) -> None:
    case = opened_case(api)
    body = example("CaseResolved", data={"outcome": "x" * 70_000})
    with Unchanged(api), api.client() as c:
        r = c.post(f"/v1/cases/{case}/events", json=body)
        assert "65,536" in is_problem(r, 413)["detail"]


def _chunks(size: int) -> Iterator[bytes]:
    # No Content-Length: the limit must hold while reading.
    for _ in range(size // 100):
        yield b" " * 100
    yield b"{}"


def test_413_limits_hold_while_streaming(small: ApiServer) -> None:
    with Unchanged(small), small.client() as c:
        r = c.post(f"/v1/cases/{new_case()}/events", content=_chunks(3000), headers=JSON)
        is_problem(r, 413)
        is_problem(c.post("/v1/batches", content=_chunks(9000), headers=JSON), 413)
        evidence = c.post("/v1/evidence", content=_chunks(1100),
                          headers={"Content-Type": "image/jpeg"})
        assert "1,000" in is_problem(evidence, 413)["detail"]
        declared = c.post("/v1/evidence", content=b"x" * 1001,
                          headers={"Content-Type": "image/jpeg"})
        is_problem(declared, 413)
    leftovers = list((small.settings.evidence_dir).glob("*"))
    assert leftovers == [], "a refused upload left a file behind"


def test_413_batch_body(small: ApiServer) -> None:
    events = [{"case": new_case(), **example("CaseOpened")} for _ in range(5)]
    events[0]["data"]["order_ref"] = "x" * 128
    body = json.dumps({"events": events}).encode() + b" " * 8192
    with Unchanged(small), small.client() as c:
        is_problem(c.post("/v1/batches", content=body, headers=JSON), 413)


# -- 415 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1",
])
def test_415_json_routes_need_application_json(api: ApiServer, content_type: str | None) -> None:
    body = json.dumps(example("CaseOpened")).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    with Unchanged(api), api.client() as c:
        is_problem(c.post(f"/v1/cases/{new_case()}/events", content=body, headers=headers), 415)
        is_problem(c.post("/v1/batches", content=b'{"events": []}', headers=headers), 415)
        is_problem(c.post("/v1/keys", content=b'{"role": "auditor"}', headers=headers), 415)


@pytest.mark.parametrize("content_type", [None, "pdf", "image/", "text/plain; x", "a/b c"])
def test_415_evidence_needs_a_media_type(api: ApiServer, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    with Unchanged(api), api.client() as c:
        is_problem(c.post("/v1/evidence", content=b"some bytes", headers=headers), 415)


# -- 422 ------------------------------------------------------------------------------------

def _raw_event(**replace: str) -> bytes:
    text = json.dumps(example("CaseOpened"))
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode()


STRICT_CASES: dict[str, tuple[bytes, str]] = {
    "duplicate-key": (b'{"type": "CaseOpened", "type": "CaseClosed"}', "duplicate"),
    "float": (_raw_event(**{"12990": "12990.0"}), "wrong_type"),
    "exponent": (_raw_event(**{"12990": "1.299e4"}), "wrong_type"),
    "nan": (_raw_event(**{"12990": "NaN"}), "wrong_type"),
    "infinity": (_raw_event(**{"12990": "Infinity"}), "wrong_type"),
    "minus-infinity": (_raw_event(**{"12990": "-Infinity"}), "wrong_type"),
    "huge-int": (_raw_event(**{"12990": "9" * 5000}), "out_of_range"),
    "deep": (b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
    "array": (b"[1, 2]", "wrong_type"),
    "null": (b"null", "wrong_type"),
}


@pytest.mark.parametrize("name", STRICT_CASES)
def test_422_strict_json(api: ApiServer, name: str) -> None:
    body, error_type = STRICT_CASES[name]
    with Unchanged(api), api.client() as c:
        problem = is_problem(c.post(f"/v1/cases/{new_case()}/events", content=body,
                                    headers=JSON), 422)
        assert problem["errors"][0]["type"] == error_type, problem


def test_422_lone_surrogates_are_reported_not_crashed_on(api: ApiServer) -> None:
    body = rb'{"type": "CaseOpened", "\ud800": 1, "data": {"order_ref": "\udc00"}}'
    with Unchanged(api), api.client() as c:
        problem = is_problem(c.post(f"/v1/cases/{new_case()}/events", content=body,
                                    headers=JSON), 422)
    assert ["body", "\ud800"] in [e["loc"] for e in problem["errors"]]
    assert ["body", "data", "order_ref"] in [e["loc"] for e in problem["errors"]]


FIELD_CASES: dict[str, tuple[dict[str, Any], list[Any], str]] = {
    "unknown-top-level": ({"extra": 1}, ["body", "extra"], "unknown_field"),
    "no-zone": ({"occurred_at": "2025-03-01T10:00:00"}, ["body", "occurred_at"], "bad_format"),
    "future": ({"occurred_at": "2999-01-01T00:00:00Z"}, ["body", "occurred_at"], "in_future"),
    "unknown-type": ({"type": "CaseReopened"}, ["body", "type"], "unknown_type"),
    "amount": ({"data": {**example("CaseOpened")["data"], "amount_cents": 10**12 + 1}},
               ["body", "data", "amount_cents"], "out_of_range"),
    "currency": ({"data": {**example("CaseOpened")["data"], "currency": "EURO"}},
                 ["body", "data", "currency"], "bad_format"),
    "expected-seq": ({"expected_seq": "1"}, ["body", "expected_seq"], "wrong_type"),
    "evidence-shape": ({"evidence": {}}, ["body", "evidence"], "wrong_type"),
}


@pytest.mark.parametrize("name", FIELD_CASES)
def test_422_names_the_bad_field(api: ApiServer, name: str) -> None:
    override, loc, error_type = FIELD_CASES[name]
    with Unchanged(api), api.client() as c:
        r = c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened", **override))
        problem = is_problem(r, 422)
    assert {"loc": loc, "type": error_type} in [
        {"loc": e["loc"], "type": e["type"]} for e in problem["errors"]], problem


def test_422_evidence_never_uploaded(api: ApiServer) -> None:
    case = opened_case(api)
    with Unchanged(api), api.client() as c:
        letter = example("LetterSent")  # cites a hash nobody uploaded
        problem = is_problem(c.post(f"/v1/cases/{case}/events", json=letter), 422)
    assert problem["type"].endswith("/evidence-not-found")
    assert problem["errors"][0]["loc"] == ["body", "evidence"]


def test_422_several_errors_at_once(api: ApiServer) -> None:
    body = example("CaseOpened", occurred_at="yesterday", extra=True)
    body["data"]["reason"] = "bored"
    with Unchanged(api), api.client() as c:
        problem = is_problem(c.post(f"/v1/cases/{new_case()}/events", json=body), 422)
    locs = {tuple(e["loc"]) for e in problem["errors"]}
    assert {("body", "extra"), ("body", "occurred_at"), ("body", "data", "reason")} <= locs


def test_422_batch_shape_and_size(small: ApiServer) -> None:
    one = {"case": new_case(), **example("CaseOpened")}
    with Unchanged(small), small.client() as c:
        for body, loc in (
            ({"events": [one] * 6}, ["body", "events"]),
            ({"events": []}, ["body", "events"]),
            ({}, ["body", "events"]),
            ({"events": [one], "more": 1}, ["body", "more"]),
        ):
            problem = is_problem(c.post("/v1/batches", json=body), 422)
            assert problem["errors"][0]["loc"] == loc, problem


def test_422_batch_above_1000_events(api: ApiServer) -> None:
    event = {"case": new_case(), **example("CaseClosed")}
    with Unchanged(api), api.client() as c:
        r = c.post("/v1/batches", json={"events": [event] * 1001})
        assert "1,000" in is_problem(r, 422)["detail"]


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there"])
def test_422_bad_idempotency_key(api: ApiServer, key: str) -> None:
    headers = {"Idempotency-Key": key.encode("utf-8")}
    with Unchanged(api), api.client() as c:
        r = c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"),
                   headers=headers)  # type: ignore[arg-type]
        assert is_problem(r, 422)["errors"][0]["loc"] == ["header", "Idempotency-Key"]


@pytest.mark.parametrize("params", [
    {"index": "abc", "size": "1"}, {"index": "-1", "size": "1"}, {"index": "1.0", "size": "2"},
    {"size": "1"},
])
def test_422_bad_query_parameters(api: ApiServer, params: dict[str, str]) -> None:
    with api.client() as c:
        problem = is_problem(c.get("/v1/log/proofs/inclusion", params=params), 422)
    assert problem["errors"] and problem["errors"][0]["loc"][0] == "query"


# -- 500 / 503 ------------------------------------------------------------------------------

def test_500_hides_the_cause(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    case = opened_case(api)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api.services.ledger, "case", broken)
    with api.client() as c:
        r = c.get(f"/v1/cases/{case}")
        problem = is_problem(r, 500)
        assert "secret internal detail" not in r.text and "RuntimeError" not in r.text
        monkeypatch.undo()
        assert c.get(f"/v1/cases/{case}").status_code == 200  # the server lives on
    assert problem["type"].endswith("/internal-error")


def test_503_when_the_ledger_is_busy(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise BusyError("concurrent appends to the same case kept conflicting; retry")

    monkeypatch.setattr(api.services.ledger, "commit", busy)
    with Unchanged(api), api.client() as c:
        r = c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"))
        assert is_problem(r, 503)["type"].endswith("/busy")
        assert r.headers["retry-after"] == "1"


def test_503_when_the_database_fails(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        # What the store raises when the driver says "connection to server at 10.0.0.7 failed".
        raise DatabaseUnavailableError() from OSError("connection to server at 10.0.0.7 failed")

    monkeypatch.setattr(api.services.ledger, "case", down)
    with api.client() as c:
        r = c.get(f"/v1/cases/{new_case()}")
    assert is_problem(r, 503) and r.headers["retry-after"]
    assert "10.0.0.7" not in r.text


def test_503_when_postgres_is_gone(tmp_path: Path) -> None:
    """A real outage: the database is dropped under the running server. (Only routes whose
    queries the ledger runs itself are asked: eventsourcing's own reads retry ten times before
    failing, which would make this test slow, not different.)"""
    with pg_database() as url:
        settings = Settings(database_url=url, data_dir=tmp_path / "data", origin=ORIGIN,
                            extra_env={"POSTGRES_CONNECT_TIMEOUT": "1"})
        with running_server(settings) as server, server.client() as c:
            c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened")).raise_for_status()
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            for path in ("/healthz", "/v1/log/proofs/consistency?from=1&to=1"):
                r = c.get(path)
                assert is_problem(r, 503)["type"].endswith("/unavailable")
                assert r.headers["retry-after"]
                assert url not in r.text and name not in r.text
