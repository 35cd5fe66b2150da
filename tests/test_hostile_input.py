"""Hostile input: every request of tests/hostile_corpus.py gets a 4xx problem naming the problem.

On a real server (uvicorn on a port), both backends: each bad request is answered with the
status of API.md as application/problem+json whose `detail` or `errors` contain the corpus
entry's keyword; after the whole corpus nothing was stored (tree size, evidence rows and files,
idempotency records, API keys) and the server still answers. Then the memory check: the corpus
sent 20 times to a `temoin serve` process, whose resident memory must level off.
(tests/test_api_errors.py checks one example per status in depth; this is the breadth.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from ledger.config import Settings
from tests.e2e import Served, admin_token, start_server
from tests.hostile_corpus import CORPUS, Bad, categories

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, example  # noqa: E402

pytest_plugins = ("tests.api_server",)

CASE = "HOSTILE-1"  # the corpus's batch events name it too
ROUNDS = 20
# Bytes of RSS the server may gain between round 10 and round 20. It grows in steps of about
# 14 MiB during the first rounds (a worker thread that decodes a multi-megabyte body keeps its
# own malloc arena), then stays flat; a leak of the big bodies would add megabytes per round.
MAX_GROWTH = 30 * 2**20


@dataclass(frozen=True)
class Snapshot:
    tree_size: int
    evidence: int
    idempotency: int
    api_keys: int
    files: tuple[str, ...]


def _snapshot(api: ApiServer) -> Snapshot:
    files = tuple(sorted(p.name for p in api.settings.evidence_dir.glob("*"))) \
        if api.settings.evidence_dir.exists() else ()
    return Snapshot(api.tree_size(), api.count("evidence"), api.count("idempotency"),
                    api.count("api_keys"), files)


@pytest.fixture(scope="module")
def baseline(api: ApiServer) -> Snapshot:
    """The case exists (so a wrongly accepted event would be a 201), then the state."""
    with api.client() as c:
        c.post(f"/v1/cases/{CASE}/events", json=example("CaseOpened")).raise_for_status()
    return _snapshot(api)


def send(client: httpx.Client, bad: Bad, body: Any = None) -> httpx.Response:
    headers: dict[str, Any] = dict(bad.headers)
    if bad.content_type is not None:
        headers["Content-Type"] = bad.content_type
    return client.request(bad.method, bad.path.replace("{case}", CASE),
                          content=bad.body() if body is None else body, headers=headers)


def check_answer(bad: Bad, response: httpx.Response) -> None:
    assert response.status_code == bad.status, (bad.id, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", response.headers
    problem = response.json()
    assert problem["status"] == bad.status
    assert problem["type"].startswith("https://temoin.dev/problems/")
    assert problem["title"] and problem["detail"]
    assert unquote(problem["instance"]) == unquote(response.request.url.path)
    assert "Traceback" not in response.text
    said = " ".join([problem["detail"], *(f"{e['msg']} {e['type']} {e['loc']}"
                                           for e in problem.get("errors") or [])])
    assert bad.keyword.lower() in said.lower(), (bad.id, bad.keyword, problem)


def test_the_corpus_covers_every_category() -> None:
    counts = categories()
    assert sum(counts.values()) >= 100
    assert len(counts) == 17 and min(counts.values()) >= 5, counts


@pytest.mark.parametrize("bad", CORPUS, ids=[b.id for b in CORPUS])
def test_hostile_request_is_refused_with_a_named_problem(
    api: ApiServer, baseline: Snapshot, bad: Bad
) -> None:
    with api.client() as c:
        check_answer(bad, send(c, bad))


def test_the_corpus_stored_nothing_and_the_server_lives(
    api: ApiServer, baseline: Snapshot
) -> None:
    # Runs after the corpus of the same backend (pytest groups tests by the module's server).
    assert _snapshot(api) == baseline
    with api.client() as c:
        assert c.get("/healthz").json() == {"status": "ok", "tree_size": baseline.tree_size}
        assert c.post(f"/v1/cases/{CASE}/events", json=example("OtpFailed")).status_code == 201


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'temoin.db'}",
                        data_dir=tmp_path / "data", origin="test.example/log")
    token = admin_token(settings)
    process = start_server(settings, tmp_path / "serve.log")
    try:
        yield process, token
    finally:
        process.stop()


def test_memory_levels_off_under_the_corpus(served: tuple[Served, str]) -> None:
    process, token = served
    if not Path(f"/proc/{process.process.pid}/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    rss: list[int] = []
    started = time.monotonic()
    with httpx.Client(base_url=process.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        c.post(f"/v1/cases/{CASE}/events", json=example("CaseOpened")).raise_for_status()
        # Built once: encoding the multi-megabyte bodies 20 times would cost the client
        # (on the same two cores as the server) more than the server spends refusing them.
        bodies = {b.id: b.body() for b in CORPUS}
        for _ in range(ROUNDS):
            for bad in CORPUS:
                body = bodies[bad.id]
                response = send(c, bad, body if isinstance(body, bytes) else bad.body())
                assert response.status_code == bad.status, (bad.id, response.text[:300])
            rss.append(_rss(process.process.pid))
        assert c.get("/healthz").json()["tree_size"] == 1
    mib = [round(r / 2**20, 1) for r in rss]
    print(f"{ROUNDS} rounds of {len(CORPUS)} requests in {time.monotonic() - started:.0f} s; "
          f"RSS MiB per round: {mib}")
    assert rss[-1] - rss[9] < MAX_GROWTH, f"memory keeps growing: {mib}"


# -- regressions found by the corpus -----------------------------------------------------------

def test_a_refused_empty_upload_leaves_no_file(api: ApiServer) -> None:
    """The empty file used to stay in the evidence folder under its hash after the 422."""
    folder = api.settings.evidence_dir
    before = sorted(folder.glob("*")) if folder.exists() else []
    with api.client() as c:
        r = c.post("/v1/evidence", content=b"", headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 422
    after = sorted(folder.glob("*")) if folder.exists() else []
    assert after == before


@pytest.mark.parametrize("raw,decoded", [("A%0AB", "A\nB"), ("A%09B", "A\tB"),
                                         ("A%0DB", "A\rB")])
def test_the_problem_names_the_path_as_sent(api: ApiServer, raw: str, decoded: str) -> None:
    """`instance` used to drop tabs and newlines (urlsplit strips them): the problem about
    case "A\\nB" named the valid, different case "AB"."""
    with api.client() as c:
        problem = c.get(f"/v1/cases/{raw}").json()
    assert problem["instance"] == f"/v1/cases/{decoded}"
    assert repr(decoded) in problem["detail"] or decoded in problem["detail"]
