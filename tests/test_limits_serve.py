"""Resource limits configured through the environment of a real `temoin serve`.

tests/test_api_errors.py checks the default limits and small ones given to create_app();
tests/test_api_auth.py the rate limit in-process; tests/test_api_openapi.py the parsing of the
variables. Here the variables go through the command line's process environment, as an
operator would set them: each limit is enforced exactly at its value (the limit itself passes,
one byte or one event more does not) with an answer that names the limit, nothing is stored by
a refused request, and a malformed value stops `temoin serve` with a message naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger.config import Settings
from tests.e2e import Served, admin_token, serving, temoin

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import example, is_problem  # noqa: E402

LIMITS = {
    "TEMOIN_MAX_EVENT_BODY": "1024",
    "TEMOIN_MAX_BATCH_BODY": "4096",
    "TEMOIN_MAX_BATCH_EVENTS": "3",
    "TEMOIN_MAX_EVIDENCE": "100",
    "TEMOIN_RATE_LIMIT": "40",
}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    directory = tmp_path_factory.mktemp("limits")
    settings = Settings(database_url=f"sqlite:///{directory / 't.db'}",
                        data_dir=directory / "data", origin="test.example/log")
    token = admin_token(settings)
    with serving(settings, directory / "serve.log", **LIMITS) as served:
        yield served, token


def _padded(body: dict[str, object], size: int) -> bytes:
    """The JSON of `body`, padded with white space to exactly `size` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def _tree_size(c: httpx.Client) -> int:
    return int(c.get("/healthz").json()["tree_size"])


def test_event_body_limit(limited: tuple[Served, str]) -> None:
    served, token = limited
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        c.post("/v1/cases/LIM-1/events", json=example("CaseOpened")).raise_for_status()
        size = _tree_size(c)
        refused = c.post("/v1/cases/LIM-1/events", headers=JSON,
                         content=_padded(example("OtpFailed"), 1025))
        assert "1,024 bytes" in is_problem(refused, 413)["detail"]
        assert _tree_size(c) == size
        at_limit = c.post("/v1/cases/LIM-1/events", headers=JSON,
                          content=_padded(example("OtpFailed"), 1024))
        assert at_limit.status_code == 201, at_limit.text


def test_batch_limits(limited: tuple[Served, str]) -> None:
    served, token = limited
    events = [{"case": f"LIM-B{i}", **example("CaseOpened")} for i in range(4)]
    for event in events:
        event["personal"] = {}  # small enough for 3 events in 4 KiB
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        size = _tree_size(c)
        refused = c.post("/v1/batches", json={"events": events})
        problem = is_problem(refused, 422)
        assert "at most 3 events" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["body", "events"]
        too_big = c.post("/v1/batches", headers=JSON,
                         content=_padded({"events": events[:3]}, 4097))
        assert "4,096 bytes" in is_problem(too_big, 413)["detail"]
        assert _tree_size(c) == size
        at_limit = c.post("/v1/batches", headers=JSON,
                          content=_padded({"events": events[:3]}, 4096))
        assert at_limit.status_code == 201, at_limit.text
        assert _tree_size(c) == size + 3


def test_evidence_limit(limited: tuple[Served, str], tmp_path: Path) -> None:
    served, token = limited
    jpeg = {"Content-Type": "image/jpeg"}
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        declared = c.post("/v1/evidence", content=b"x" * 101, headers=jpeg)
        assert "100 bytes" in is_problem(declared, 413)["detail"]
        streamed = c.post("/v1/evidence", content=iter([b"y" * 60, b"y" * 41]), headers=jpeg)
        assert "100 bytes" in is_problem(streamed, 413)["detail"]
        assert c.post("/v1/evidence", content=b"z" * 100, headers=jpeg).status_code == 201


def test_rate_limit_per_key(limited: tuple[Served, str]) -> None:
    served, token = limited
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as admin:
        first = admin.post("/v1/keys", json={"role": "auditor"}).json()["token"]
        second = admin.post("/v1/keys", json={"role": "auditor"}).json()["token"]
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {first}"},
                      timeout=30) as c:
        answers = [c.get("/v1/log/key") for _ in range(120)]
    refused = [r for r in answers if r.status_code == 429]
    assert refused, "120 requests at once never hit a limit of 40 a second"
    assert {r.status_code for r in answers} == {200, 429}
    problem = is_problem(refused[0], 429)
    assert "too many requests" in problem["detail"]
    assert int(refused[0].headers["retry-after"]) >= 1
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {second}"},
                      timeout=30) as other:
        assert other.get("/v1/log/key").status_code == 200  # buckets are per key


@pytest.mark.parametrize("name,value", [
    ("TEMOIN_MAX_EVENT_BODY", "64k"), ("TEMOIN_MAX_EVIDENCE", "-1"),
    ("TEMOIN_MAX_BATCH_EVENTS", "0"), ("TEMOIN_RATE_LIMIT", "fast"),
])
def test_malformed_limit_stops_serve_with_a_clear_message(
    tmp_path: Path, name: str, value: str
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}",
                        data_dir=tmp_path / "data", origin="test.example/log")
    out = temoin(settings, "serve", "--port", "1", check=False, **{name: value})
    assert out.returncode == 2, out.stdout + out.stderr
    assert name in out.stderr and "Traceback" not in out.stderr
