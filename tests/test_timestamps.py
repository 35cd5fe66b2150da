"""RFC 3161 time-stamps on signed checkpoints (issue 11), against a real local TSA process
(scripts/local_tsa.py, which signs with `openssl ts -reply`) and real `temoin serve` processes
on both backends. Every token is checked twice: by our `verify_token` and by `openssl ts
-verify`, an independent implementation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.timestamper import backoff
from ledger.access import AccessJournal
from ledger.config import Settings
from ledger.store.base import MerkleStore
from ledger.timestamps import TimestampError, build_request, verify_token
from scripts.local_tsa import Running as LocalTsa
from scripts.local_tsa import running as local_tsa
from tests.api_server import example, new_case
from tests.e2e import Served, admin_token, env_for, free_port, serving

FAST = {"TEMOIN_TSA_INTERVAL": "0.1", "TEMOIN_TSA_BACKOFF_MAX": "0.4",
        "TEMOIN_TSA_TIMEOUT": "3"}
NOTE = b"test.example/log\n7\nq1Jb0Q3xTQ9p3s1R2Vd7QWmYwYjQ3b2dQ0s3cXo1ZkE=\n\n\xe2\x80\x94 x abc=\n"


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    with local_tsa(tmp_path_factory.mktemp("tsa")) as server:
        yield server


def _ask(tsa: LocalTsa, note: bytes, mode: str = "ok") -> tuple[bytes, int]:
    tsa.mode(mode)
    try:
        query, nonce = build_request(note)
        reply = httpx.post(tsa.url, content=query, timeout=10,
                           headers={"Content-Type": "application/timestamp-query"})
    finally:
        tsa.mode("ok")
    assert reply.status_code == 200, reply.text
    return reply.content, nonce


def openssl_verify(reply: bytes, note: bytes, roots: Path, folder: Path) -> None:
    """The independent check: openssl ts -verify over SHA-256 of the note, against the roots."""
    path = folder / f"{hashlib.sha256(reply).hexdigest()[:16]}.tsr"
    path.write_bytes(reply)
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-digest", hashlib.sha256(note).hexdigest(),
         "-in", str(path), "-CAfile", str(roots)],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr


# -- ledger/timestamps.py against the real TSA ------------------------------------------------

def test_genuine_token_verifies_offline_and_with_openssl(tsa: LocalTsa, tmp_path: Path) -> None:
    reply, nonce = _ask(tsa, NOTE)
    roots = tsa.roots.read_bytes()
    before = time.time()
    info = verify_token(reply, NOTE, roots, nonce)
    assert abs(info.time.timestamp() - before) < 60
    assert info.tsa_subject == "CN=trusted TSA,O=Temoin test TSA"
    assert info.serial >= 1
    # Offline, later: no nonce, only the token, the note and the roots.
    assert verify_token(reply, NOTE, roots) == info
    openssl_verify(reply, NOTE, tsa.roots, tmp_path)


def test_refused_tokens_say_what_differed(tsa: LocalTsa) -> None:
    roots = tsa.roots.read_bytes()
    reply, nonce = _ask(tsa, NOTE)
    with pytest.raises(TimestampError, match="another digest") as other_note:
        verify_token(reply, NOTE + b"x", roots, nonce)
    assert other_note.value.want == hashlib.sha256(NOTE + b"x").hexdigest()
    assert other_note.value.got == hashlib.sha256(NOTE).hexdigest()
    with pytest.raises(TimestampError, match="nonce") as bad_nonce:
        verify_token(reply, NOTE, roots, nonce + 1)
    assert bad_nonce.value.want == str(nonce + 1) and bad_nonce.value.got == str(nonce)

    wrong, nonce = _ask(tsa, NOTE, "wrong-digest")
    with pytest.raises(TimestampError, match="another digest"):
        verify_token(wrong, NOTE, roots, nonce)

    untrusted, nonce = _ask(tsa, NOTE, "untrusted")
    with pytest.raises(TimestampError, match="does not chain to the trusted roots") as chain:
        verify_token(untrusted, NOTE, roots, nonce)
    assert "untrusted TSA" in chain.value.got and "trusted root CA" in chain.value.want
    # The same token is well-formed: only the trust anchors tell it apart.
    assert verify_token(untrusted, NOTE, None, nonce).tsa_subject.startswith("CN=untrusted")

    garbage, _ = _ask(tsa, NOTE, "garbage")
    with pytest.raises(TimestampError, match="not a DER TimeStampResp"):
        verify_token(garbage, NOTE, roots)
    with pytest.raises(TimestampError, match="not a DER TimeStampResp"):
        verify_token(reply[:-10], NOTE, roots)


def test_backoff_doubles_from_the_interval_up_to_the_cap() -> None:
    assert [backoff(n, 0.5, 6.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 6, 6, 6]
    assert backoff(10_000, 1.0, 300.0) == 300.0  # no overflow after days of failures


# -- the service, through real `temoin serve` processes ----------------------------------------

def _client(served: Served, token: str) -> httpx.Client:
    return httpx.Client(base_url=served.base_url, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def _append(c: httpx.Client, case: str, type_: str = "CaseOpened") -> float:
    """Append one event; returns the answer time in seconds."""
    started = time.perf_counter()
    r = c.post(f"/v1/cases/{case}/events", json=example(type_))
    assert r.status_code == 201, r.text
    return time.perf_counter() - started


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _served_checkpoints(c: httpx.Client) -> list[dict[str, object]]:
    r = c.get("/v1/log/checkpoints", params={"after": -1})
    assert r.status_code == 200, r.text
    return list(r.json())


def _lacking(store: MerkleStore, url: str) -> list[int]:
    return store.checkpoints_lacking("rfc3161", url, 1000)


def _check_all_tokens(store: MerkleStore, tsas: list[LocalTsa], folder: Path) -> int:
    """Every checkpoint of `store` has one valid token per TSA; returns how many were checked."""
    checked = 0
    for checkpoint in store.checkpoints():
        tokens = {a.signer: a.body for a in store.attestations(checkpoint.size, "rfc3161")}
        assert set(tokens) == {t.url for t in tsas}, (checkpoint.size, sorted(tokens))
        for server in tsas:
            verify_token(tokens[server.url], checkpoint.note, server.roots.read_bytes())
            openssl_verify(tokens[server.url], checkpoint.note, server.roots, folder)
            checked += 1
    return checked


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _tsa_env(tsas: list[LocalTsa], roots: Path, **extra: str) -> dict[str, str]:
    return {"TEMOIN_TSA_URLS": " ".join(t.url for t in tsas), "TEMOIN_TSA_ROOTS": str(roots),
            **FAST, **extra}


def _both_roots(tsas: list[LocalTsa], folder: Path) -> Path:
    path = folder / "roots.pem"
    path.write_bytes(b"".join(t.roots.read_bytes() for t in tsas))
    return path


def test_every_checkpoint_of_both_logs_is_timestamped_by_each_tsa(
    settings: Settings, tmp_path: Path
) -> None:
    token = admin_token(settings)
    journal = AccessJournal(settings)
    try:
        with local_tsa(tmp_path / "tsa-a") as a, local_tsa(tmp_path / "tsa-b") as b:
            with serving(settings, tmp_path / "serve.log",
                         **_tsa_env([a], a.roots)) as served, _client(served, token) as c:
                cases = [new_case() for _ in range(3)]
                for round_ in range(3):
                    for case in cases:
                        _append(c, case, "CaseOpened" if round_ == 0 else "OtpFailed")
                    c.post("/v1/log/checkpoint").raise_for_status()
                    assert c.get(f"/v1/cases/{cases[round_]}").status_code == 200
                    # Another process signs the access journal here too, so the server's
                    # time-stamper must find checkpoints it did not sign itself.
                    journal.sign_checkpoint()
                sizes = [cp["size"] for cp in _served_checkpoints(c)]
                assert sizes[0] == 0 and sizes[-1] == 9  # and any the checkpointer signed
                took = _wait(lambda: not _lacking(journal.store, a.url) and all(
                    cp["timestamps"] for cp in _served_checkpoints(c)), 10,
                    "every checkpoint of both logs time-stamped")
                assert took < 5
                served_tokens = _served_checkpoints(c)
                for cp in served_tokens:
                    stamps = cp["timestamps"]
                    assert isinstance(stamps, list) and len(stamps) == 1
                    note = str(cp["note"]).encode()
                    reply = base64.b64decode(stamps[0])
                    verify_token(reply, note, a.roots.read_bytes())
                    openssl_verify(reply, note, a.roots, tmp_path)
                access = len(journal.store.checkpoints())
                assert access >= 3  # one per round signed here, and any the checkpointer signed
                assert _check_all_tokens(journal.store, [a], tmp_path) == access
                page = c.get("/v1/log/checkpoints",
                             params={"after": sizes[1], "limit": 1}).json()
                assert [(p["size"], p["timestamps"]) for p in page] == [
                    (sizes[2], served_tokens[2]["timestamps"])]
            # Restarted with a second TSA: it stamps the whole history too, A nothing twice.
            roots = _both_roots([a, b], tmp_path)
            with serving(settings, tmp_path / "serve2.log",
                         **_tsa_env([a, b], roots)) as served, _client(served, token) as c:
                _append(c, cases[0], "OtpFailed")
                c.post("/v1/log/checkpoint").raise_for_status()
                _wait(lambda: all(len(cp["timestamps"]) == 2 for cp in _served_checkpoints(c))
                      and not _lacking(journal.store, b.url), 10, "both TSAs on every checkpoint")
                case_log = len(_served_checkpoints(c))
                assert case_log == len(sizes) + 1
                health = httpx.get(served.base_url + "/healthz").json()
                assert {h["tsa"] for h in health["timestamps"]} == {a.url, b.url}
                assert all(h["consecutive_failures"] == 0 and h["last_success"]
                           for h in health["timestamps"])
            # Each checkpoint of each log was asked for once: nothing twice after the restart.
            assert a.requests() == {"ok": case_log + access}
            assert b.requests() == {"ok": case_log + access}
        assert _check_all_tokens(journal.store, [a, b], tmp_path) == 2 * access
    finally:
        journal.close()


def test_a_failing_tsa_never_slows_appends_and_shows_until_it_recovers(
    settings: Settings, tmp_path: Path
) -> None:
    token = admin_token(settings)
    dead = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    with local_tsa(tmp_path / "tsa") as tsa, serving(
        settings, tmp_path / "serve.log", **_tsa_env([tsa], tsa.roots)
    ) as served, _client(served, token) as c:
        case = new_case()
        baseline = [_append(c, case, "CaseOpened")] + [
            _append(c, case, "OtpFailed") for _ in range(9)]
        for mode in ("down", "garbage", "wrong-digest", "untrusted"):
            tsa.mode(mode)
            before = tsa.requests().get(mode, 0)
            during = [_append(c, case, "OtpFailed") for _ in range(10)]
            signed = int(c.post("/v1/log/checkpoint").text.split("\n")[1])
            # Appends answer as fast as with a healthy TSA (they never wait for one).
            assert max(during) < max(0.5, 5 * max(baseline)), (mode, during, baseline)
            _wait(lambda m=mode, b=before: tsa.requests().get(m, 0) >= b + 2, 10,
                  f"the TSA asked twice in mode {mode}")
            # Nothing it said was kept for the checkpoint signed during the failure.
            stamps = c.get("/v1/log/checkpoints", params={"after": signed - 1}).json()
            assert stamps[0]["size"] == signed and stamps[0]["timestamps"] == []
            health = httpx.get(served.base_url + "/healthz")
            assert health.status_code == 200
            state = health.json()["timestamps"][0]
            assert state["consecutive_failures"] >= 2 and state["last_error"], state
            expected = {"down": "HTTP 503", "garbage": "not a DER TimeStampResp",
                        "wrong-digest": "another digest",
                        "untrusted": "does not chain to the trusted roots"}[mode]
            assert expected in state["last_error"], state
            metrics = httpx.get(served.base_url + "/metrics").text
            outcome = "http_error" if mode == "down" else "invalid"
            assert _metric(metrics, "temoin_tsa_requests_total", tsa=tsa.url,
                           outcome=outcome) >= 2, metrics
            assert _metric(metrics, "temoin_tsa_pending_age_seconds", tsa=tsa.url,
                           log="log") > 0, metrics
            assert _metric(metrics, "temoin_tsa_consecutive_failures", tsa=tsa.url) >= 2
        log_text = Path(tmp_path / "serve.log").read_text()
        assert re.search(r"refused its token for the log checkpoint of size \d+: the "
                         r"token is over another digest", log_text), log_text[-3000:]
        tsa.mode("ok")
        _wait(lambda: all(cp["timestamps"] for cp in _served_checkpoints(c)), 10,
              "time-stamps after the TSA came back")
        _wait(lambda: _metric(httpx.get(served.base_url + "/metrics").text,
                              "temoin_tsa_pending_age_seconds", tsa=tsa.url) == 0, 5,
              "no pending checkpoint in /metrics")
        state = httpx.get(served.base_url + "/healthz").json()["timestamps"][0]
        assert state["consecutive_failures"] == 0 and state["last_success"]
        # Only genuine tokens over the right notes were stored, one per checkpoint.
        for cp in _served_checkpoints(c):
            assert len(cp["timestamps"]) == 1
            verify_token(base64.b64decode(cp["timestamps"][0]), str(cp["note"]).encode(),
                         tsa.roots.read_bytes())
    with serving(settings, tmp_path / "serve-dead.log",
                 **_tsa_env([], tsa.roots, TEMOIN_TSA_URLS=dead)) as served:
        _wait(lambda: _metric(httpx.get(served.base_url + "/metrics").text,
                              "temoin_tsa_requests_total", tsa=dead,
                              outcome="unreachable") >= 2, 10, "unreachable TSA counted")
        health = httpx.get(served.base_url + "/healthz")
        assert health.status_code == 200
        state = health.json()["timestamps"][0]
        assert state["tsa"] == dead and "ConnectError" in state["last_error"], state


@pytest.mark.parametrize(("variables", "message"), [
    ({"TEMOIN_TSA_URLS": "ftp://tsa.example/"}, "must be an http:// or https:// URL"),
    ({"TEMOIN_TSA_URLS": "tsa.example"}, "must be an http:// or https:// URL"),
    ({"TEMOIN_TSA_URLS": "http://a.example/ http://a.example/"}, "names a TSA twice"),
    ({"TEMOIN_TSA_URLS": "https://me:secret@a.example/"}, "must not carry credentials"),
    ({"TEMOIN_TSA_URLS": "http://a.example/", "TEMOIN_TSA_ROOTS": "/nonexistent/roots.pem"},
     "cannot read the TSA trust anchors '/nonexistent/roots.pem'"),
    ({"TEMOIN_TSA_URLS": "http://a.example/", "TEMOIN_TSA_ROOTS": "{not_pem}"},
     "must hold PEM certificates"),
    ({"TEMOIN_TSA_URLS": "http://a.example/", "TEMOIN_TSA_INTERVAL": "0"},
     "TEMOIN_TSA_INTERVAL must be a positive number"),
    ({"TEMOIN_TSA_URLS": "http://a.example/", "TEMOIN_TSA_BATCH": "x"},
     "TEMOIN_TSA_BATCH must be an integer"),
])
def test_bad_configuration_stops_serve_with_a_clear_message(
    variables: dict[str, str], message: str, tmp_path: Path
) -> None:
    not_pem = tmp_path / "roots.pem"
    not_pem.write_text("this is no certificate\n")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", data_dir=tmp_path / "data")
    env = {k: v.format(not_pem=not_pem) for k, v in variables.items()}
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "serve", "--port", str(port)],
        env=env_for(settings, **env),
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "temoin: configuration error: " in done.stderr and message in done.stderr, done.stderr
    assert "serving" not in done.stdout  # it stopped before listening
