"""Access control: nothing of another tenant leaks, tokens are hashed, secret keys stay secret.

- A case of another tenant is answered exactly like a case that does not exist, on every case
  route and for every role: same status, byte-identical problem (once the case id is blanked
  out), and the same time to answer (medians of interleaved tries within a few milliseconds),
  so neither the body nor the clock tells a caller that the id is taken elsewhere. The same for
  a lawyer asking for a case of its own tenant that is not on its list, for evidence files and
  for log entries by index.
- Tokens: the database holds only their SHA-256 (not the token, not its secret part, not even
  in SQLite's file or its WAL), and the check goes through hmac.compare_digest.
- The signing keys (log.key, access.key) and the vault key are never in any HTTP answer of
  any route, nor in the log of a `temoin serve --log-level debug` run, nor in CLI output.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.apikeys import hash_token, parse_token
from ledger.config import Settings
from tests.e2e import ROOT, Served, env_for, free_port, temoin

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, example, new_case  # noqa: E402

pytest_plugins = ("tests.api_server",)

OTHER = "shop-2"
ROLES = ("appender", "auditor", "lawyer", "admin")
TRIES = 50
TOLERANCE = 0.005  # seconds between the medians


@dataclass
class World:
    api: ApiServer
    mine: str  # a case of the caller's tenant, on the lawyer's list
    unlisted: str  # of the caller's tenant, not on the lawyer's list
    foreign: str  # a case of the other tenant
    foreign_sha256: str  # an evidence file of the other tenant only
    foreign_index: int  # a leaf of the other tenant
    tokens: dict[str, str]  # the caller's tenant's keys, by role


@pytest.fixture(scope="module")
def world(api: ApiServer) -> World:
    mine, unlisted, foreign = new_case("MINE"), new_case("UNLISTED"), new_case("THEIRS")
    with api.client(api.new_key("admin", tenant=OTHER)) as them:
        sha256 = them.post("/v1/evidence", content=b"%PDF their letter",
                           headers={"Content-Type": "application/pdf"}).json()["sha256"]
        them.post(f"/v1/cases/{foreign}/events", json=example("CaseOpened")).raise_for_status()
        letter = example("LetterSent", evidence=[{"sha256": sha256, "role": "letter"}])
        letter["data"]["document_sha256"] = sha256
        index = them.post(f"/v1/cases/{foreign}/events", json=letter).json()["index"]
    with api.client() as us:
        for case in (mine, unlisted):
            us.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).raise_for_status()
    tokens = {role: api.new_key(role, cases=[mine] if role == "lawyer" else None)
              for role in ROLES}
    return World(api, mine, unlisted, foreign, sha256, index, tokens)


# Every route that names a case, and what it sends.
CASE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/cases/{c}", None),
    ("GET", "/v1/cases/{c}/entries", None),
    ("GET", "/v1/cases/{c}/timeline", None),
    ("GET", "/v1/cases/{c}/timeline?size=1", None),
    ("GET", "/v1/cases/{c}/report", None),
    ("GET", "/v1/cases/{c}/bundle", None),
    ("POST", "/v1/cases/{c}/events", example("OtpFailed")),
    ("POST", "/v1/cases/{c}/events", {**example("OtpFailed"), "expected_seq": 1}),
]


def _call(c: httpx.Client, method: str, path: str, body: dict[str, Any] | None
          ) -> httpx.Response:
    return c.request(method, path, json=body) if body is not None else c.request(method, path)


def _blank(response: httpx.Response, name: str) -> tuple[int, bytes, str | None]:
    """Status, body with the asked id blanked out (as a whole word: index 1 is not "/v1"),
    and media type."""
    word = re.compile(rb"(?<![0-9A-Za-z])" + re.escape(name.encode()) + rb"(?![0-9A-Za-z])")
    return (response.status_code, word.sub(b"<id>", response.content),
            response.headers.get("content-type"))


def _secret(token: str) -> str:
    """The random part of `tm_<key id>_<secret>` (the key id is public)."""
    key_id = parse_token(token)
    assert key_id is not None
    return token[len(f"tm_{key_id}_"):]


def _missing_case() -> str:
    return new_case("THEIRS")  # same shape and length as the foreign id


@pytest.mark.parametrize("role", ROLES)
def test_foreign_case_is_answered_like_a_missing_one(world: World, role: str) -> None:
    with world.api.client(world.tokens[role]) as c:
        for method, template, body in CASE_ROUTES:
            missing = _missing_case()
            foreign = _call(c, method, template.format(c=world.foreign), body)
            absent = _call(c, method, template.format(c=missing), body)
            # 404; or 403 where the role may not write at all (checked before any case).
            assert foreign.status_code in (403, 404), (role, template, foreign.text)
            assert _blank(foreign, world.foreign) == _blank(absent, missing), (role, template)
            assert world.foreign_sha256 not in foreign.text
            if role == "lawyer":  # its own tenant's case, not on its list
                unlisted = _call(c, method, template.format(c=world.unlisted), body)
                missing = new_case("UNLISTED")
                absent = _call(c, method, template.format(c=missing), body)
                assert _blank(unlisted, world.unlisted) == _blank(absent, missing), template
    assert world.api.count("evidence") >= 1  # nothing here appended to a foreign case


@pytest.mark.parametrize("role", ROLES)
def test_foreign_evidence_and_entries_are_answered_like_missing_ones(
    world: World, role: str
) -> None:
    missing_sha = hashlib.sha256(b"never uploaded").hexdigest()
    missing_index = world.api.tree_size() + 1000
    with world.api.client(world.tokens[role]) as c:
        foreign = c.get(f"/v1/evidence/{world.foreign_sha256}")
        absent = c.get(f"/v1/evidence/{missing_sha}")
        assert foreign.status_code == 404
        assert _blank(foreign, world.foreign_sha256) == _blank(absent, missing_sha)
        foreign = c.get(f"/v1/log/entries/{world.foreign_index}")
        absent = c.get(f"/v1/log/entries/{missing_index}")
        assert foreign.status_code == 404, foreign.text
        assert _blank(foreign, str(world.foreign_index)) == _blank(absent, str(missing_index))


def test_shared_routes_name_no_case_nor_tenant(world: World) -> None:
    """/metrics and the log routes serve every tenant: they carry hashes and sizes only."""
    size = world.api.tree_size()
    with world.api.client(world.tokens["auditor"]) as c:
        bodies = [c.get(p).text for p in (
            "/metrics", "/healthz", "/v1/log/checkpoint", "/v1/log/checkpoints", "/v1/log/key",
            f"/v1/log/proofs/inclusion?index={world.foreign_index}&size={size}",
            f"/v1/log/proofs/consistency?from=1&to={size}")]
    for body in bodies:
        for name in (world.foreign, OTHER, world.foreign_sha256, world.mine):
            assert name not in body


def _medians(call_a: Callable[[], object], call_b: Callable[[], object], tries: int
             ) -> tuple[float, float]:
    a: list[float] = []
    b: list[float] = []
    for _ in range(tries):  # interleaved, so that load on the machine hits both alike
        for call, into in ((call_a, a), (call_b, b)):
            started = time.perf_counter()
            call()
            into.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b)


def test_foreign_and_missing_take_the_same_time(world: World) -> None:
    """The deepest path (admin) on every case route, evidence and log entries."""
    missing_sha = hashlib.sha256(b"never uploaded").hexdigest()
    pairs = [(f"{m} {t}", (m, t.format(c=world.foreign), b), (m, t.format(c=_missing_case()), b))
             for m, t, b in CASE_ROUTES]
    pairs.append(("GET evidence", ("GET", f"/v1/evidence/{world.foreign_sha256}", None),
                  ("GET", f"/v1/evidence/{missing_sha}", None)))
    pairs.append(("GET entry", ("GET", f"/v1/log/entries/{world.foreign_index}", None),
                  ("GET", f"/v1/log/entries/{world.api.tree_size() + 1000}", None)))
    gaps = {}
    with world.api.client(world.tokens["admin"]) as c:
        for name, foreign, missing in pairs:
            _call(c, *foreign), _call(c, *missing)  # warm up
            for tries in (TRIES, 4 * TRIES):  # a second, longer look if the machine was noisy
                a, b = _medians(lambda f=foreign: _call(c, *f),
                                lambda m=missing: _call(c, *m), tries)
                gaps[name] = (round(a * 1000, 2), round(b * 1000, 2))
                if abs(a - b) < TOLERANCE:
                    break
            assert abs(a - b) < TOLERANCE, (name, gaps[name])
    print(f"median ms (foreign, missing): {gaps}")


# -- tokens ------------------------------------------------------------------------------------

def test_tokens_are_stored_as_sha256_only(world: World) -> None:
    api = world.api
    token = api.new_key("auditor")
    key_id = parse_token(token)
    secret = _secret(token)
    rows = api.services.ledger.store._query("SELECT * FROM api_keys")
    text = json.dumps([[str(v) for v in row] for row in rows])
    assert secret not in text and token not in text
    (stored,) = api.services.ledger.store._query(
        "SELECT token_hash FROM api_keys WHERE id = ?", (key_id,))
    assert stored[0] == hashlib.sha256(token.encode()).hexdigest() == hash_token(token)
    with api.client(token) as c:  # the key works: what is stored is enough to check it
        assert c.get("/v1/log/key").status_code == 200
    url = api.settings.database_url
    if url.startswith("sqlite:///"):  # nowhere in the database's files either
        db = Path(url[len("sqlite:///"):])
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                assert secret.encode() not in path.read_bytes(), path


def test_tokens_are_compared_with_compare_digest(world: World,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    api = world.api
    token = api.new_key("auditor")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    (stored,) = api.services.ledger.store._query(
        "SELECT token_hash FROM api_keys WHERE id = ?", (parse_token(token),))
    real = hmac.compare_digest
    calls: list[tuple[Any, Any]] = []

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with api.client(forged) as c:
        assert c.get("/v1/log/key").status_code == 401
    assert calls == [(stored[0], hash_token(forged))]
    # The comparison decides alone: were compare_digest to say "equal", the key would pass;
    # a second, timing-leaky `==` behind it would still refuse.
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: True)
    other = token[:-4] + ("CCCC" if not token.endswith("CCCC") else "DDDD")
    with api.client(other) as c:
        assert c.get("/v1/log/key").status_code == 200


# -- secrets never leave the process -----------------------------------------------------------

def _secrets(data_dir: Path) -> dict[str, bytes]:
    """Every form in which the key files' secret material could show up."""
    found: dict[str, bytes] = {}
    for name in ("log.key", "access.key"):
        line = (data_dir / name).read_text().strip()
        tail = line.split("+", 4)[4]  # PRIVATE+KEY+<name>+<key id>+<base64>: "+" is base64 too
        raw = base64.b64decode(tail)[1:]  # 0x01 || 32-byte Ed25519 seed
        found.update({f"{name} line": line.encode(), f"{name} base64": tail.encode(),
                      f"{name} seed hex": raw.hex().encode(),
                      f"{name} seed base64": base64.b64encode(raw).rstrip(b"="),
                      f"{name} seed urlsafe": base64.urlsafe_b64encode(raw).rstrip(b"="),
                      f"{name} seed": raw})
    vault = bytes.fromhex((data_dir / "vault.key").read_text().strip())
    found.update({"vault.key hex": vault.hex().encode(),
                  "vault.key base64": base64.b64encode(vault).rstrip(b"="), "vault.key": vault})
    return found


def _leaks(secrets: dict[str, bytes], where: str, data: bytes) -> list[str]:
    return [f"{name} in {where}" for name, value in secrets.items()
            if value in data or value.lower() in data.lower()]


def _expand(data: bytes, content_type: str) -> Iterator[tuple[str, bytes]]:
    """The answer, and what is packed inside it (zip members, PDF text)."""
    yield "", data
    if content_type.startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                member = z.read(name)
                yield f" member {name}", member
                if name.endswith(".pdf"):
                    yield from ((f" member {name}{w}", d) for w, d in _expand(member, "pdf"))
    elif "pdf" in content_type and data.startswith(b"%PDF-"):  # not the uploaded stand-in
        from pypdf import PdfReader

        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        yield " (pdf text)", text.encode()


@pytest.fixture
def debug_server(settings: Settings, tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """`temoin serve --log-level debug`, with its whole output captured."""
    log = tmp_path / "serve.log"
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            # Every logger at DEBUG (the app's, eventsourcing's, psycopg's...), not only
            # uvicorn's, which is all that --log-level sets.
            [sys.executable, "-c", "import logging, sys; logging.basicConfig(level=logging.DEBUG);"
             " from scripts.cli import main; sys.exit(main(sys.argv[1:]))",
             "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "debug"],
            env=env_for(settings, PYTHONASYNCIODEBUG="1"), stdout=out, stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", port, log)
    try:
        served.wait_ready()
        yield served, log
    finally:
        served.stop()


def test_key_files_are_never_served_nor_logged(settings: Settings,
                                                debug_server: tuple[Served, Path]) -> None:
    served, log = debug_server
    admin = json.loads(temoin(settings, "keys", "create", "--role", "admin", "--tenant",
                              "shop-1", "--json").stdout)["token"]
    answers: list[tuple[str, httpx.Response]] = []
    case = "LEAK-1"
    with httpx.Client(base_url=served.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {admin}"}) as c:
        def keep(response: httpx.Response) -> httpx.Response:
            answers.append((f"{response.request.method} {response.request.url}", response))
            return response

        pdf = keep(c.post("/v1/evidence", content=b"%PDF letter",
                          headers={"Content-Type": "application/pdf"})).json()["sha256"]
        for type_ in ("CaseOpened", "LetterSent", "OtpVerified", "PersonalDataErased"):
            body = example(type_)
            if type_ == "LetterSent":
                body["data"]["document_sha256"] = pdf
                body["evidence"] = [{"sha256": pdf, "role": "letter"}]
            keep(c.post(f"/v1/cases/{case}/events", json=body))
        keep(c.post("/v1/log/checkpoint"))
        auditor = keep(c.post("/v1/keys", json={"role": "auditor"})).json()["token"]
        size = c.get("/healthz").json()["tree_size"]
        # Every GET route of the service, and a few refusals.
        paths = ["/healthz", "/metrics", "/docs", "/redoc", "/openapi.json", "/v1/log/key",
                 "/v1/log/checkpoint", "/v1/log/checkpoints", "/v1/log/checkpoints?after=0",
                 f"/v1/log/proofs/inclusion?index=0&size={size}",
                 f"/v1/log/proofs/consistency?from=1&to={size}",
                 f"/v1/cases/{case}", f"/v1/cases/{case}/entries",
                 f"/v1/cases/{case}/timeline", f"/v1/cases/{case}/timeline?size=1",
                 f"/v1/cases/{case}/report", f"/v1/cases/{case}/bundle", f"/v1/evidence/{pdf}",
                 "/v1/cases/NOPE", "/v1/log/entries/99999", "/nowhere", "/v1/evidence/xyz",
                 *(f"/v1/log/entries/{i}" for i in range(size))]
        for path in paths:
            keep(c.get(path))
        keep(c.get(f"/v1/cases/{case}/report", headers={"Accept": "application/pdf"}))
        keep(c.get("/v1/log/key", headers={"Authorization": f"Bearer {auditor}"}))
        keep(c.get("/v1/log/key", headers={"Authorization": "Bearer nonsense"}))
    assert all(r.status_code < 500 for _, r in answers), [
        (w, r.status_code) for w, r in answers if r.status_code >= 500]
    secrets = _secrets(settings.data_dir)
    leaks: list[str] = []
    for where, response in answers:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode()
        leaks += _leaks(secrets, f"headers of {where}", headers)
        for inside, data in _expand(response.content, response.headers.get("content-type", "")):
            leaks += _leaks(secrets, f"{where}{inside}", data)
    served.stop()
    output = log.read_bytes()
    assert b"DEBUG:" in output  # it was a debug run
    leaks += _leaks(secrets, "the server log", output)
    for token in (admin, auditor):
        if token.encode() in output or _secret(token).encode() in output:
            leaks.append("an API token in the server log")
    for args in (("verify",), ("keygen",), ("checkpoint",), ("report", case)):
        out = temoin(settings, *args, check=False)
        leaks += _leaks(secrets, f"temoin {' '.join(args)}", (out.stdout + out.stderr).encode())
    assert not leaks, leaks
    assert len(answers) > 30
