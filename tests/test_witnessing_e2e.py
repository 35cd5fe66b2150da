"""Two Témoin logs witnessed by real witness processes (issue 11, C2SP witnesses).

Everything runs as separate processes: `temoin serve` on SQLite and on PostgreSQL (different
origins) and `temoin witness serve` twice. Cosignatures are checked three ways: by the server's
client when it stores them, by `verify_cosignature` here on what GET /v1/log/checkpoint serves,
and by Go (`note.Open` with the log key alone, then with cosignature/v1 verifiers).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.config import Settings
from ledger.cosignature import WitnessKey, verify_cosignature
from ledger.signing import LogKey, Verifier, verify_checkpoint
from tests.api_server import example
from tests.conftest import pg_database
from tests.e2e import ROOT, admin_token, env_for, free_port, serving, temoin
from tests.interop.go_tool import run_go
from tests.witness_proc import WitnessProcess, make_witness, running_witness

FAST = {"TEMOIN_WITNESS_MAX_BACKOFF": "1", "TEMOIN_WITNESS_TIMEOUT": "2"}


def log_keys(settings: Settings) -> tuple[str, str]:
    """Create the log's and the access journal's keys before the server does; their vkeys."""
    log = LogKey.load_or_create(settings.key_path, settings.origin)
    access = LogKey.load_or_create(settings.data_dir / "access.key", f"{settings.origin}/access")
    return log.verifier_key, access.verifier_key


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value {last!r}")


def witnessing(c: httpx.Client, log: str = "log") -> dict[str, Any]:
    details = c.get("/healthz").json()["details"]
    return dict(details["witnessing"][log])


def append(c: httpx.Client, case: str) -> dict[str, Any]:
    started = time.monotonic()
    r = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"))
    assert r.status_code == 201, r.text
    # Witnesses are never on the append path: even with one down, an append is fast.
    assert time.monotonic() - started < 5
    return dict(r.json())


def signature_lines(note: bytes) -> list[str]:
    return note.decode().split("\n\n", 1)[1].splitlines(keepends=True)


def test_two_logs_two_witnesses_cosign_and_serve(tmp_path: Path, go_tool: Path) -> None:
    with pg_database() as pg_url:
        logs = {
            "a": Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}",
                          data_dir=tmp_path / "a", origin="a.example/log"),
            "b": Settings(database_url=pg_url, data_dir=tmp_path / "b", origin="b.example/log"),
        }
        vkeys = {name: log_keys(s) for name, s in logs.items()}
        trusted = {}
        for name, s in logs.items():
            trusted[s.origin], trusted[f"{s.origin}/access"] = vkeys[name]
        w_vkeys = [make_witness(tmp_path / f"w{i}", f"w{i}.test/witness", trusted)
                   for i in (1, 2)]
        with running_witness(tmp_path / "w1", tmp_path / "w1.log") as w1, running_witness(
                tmp_path / "w2", tmp_path / "w2.log") as w2:
            env = {"TEMOIN_WITNESSES": f"{w1.url} {w_vkeys[0]}\n{w2.url}  {w_vkeys[1]}",
                   "TEMOIN_WITNESS_QUORUM": "2", **FAST}
            tokens = {name: admin_token(s) for name, s in logs.items()}
            with serving(logs["a"], tmp_path / "a.log", **env) as a, serving(
                    logs["b"], tmp_path / "b.log", **env) as b:
                for name, served in (("a", a), ("b", b)):
                    with httpx.Client(base_url=served.base_url, timeout=30, headers={
                            "Authorization": f"Bearer {tokens[name]}"}) as c:
                        _check_one_log(c, logs[name], vkeys[name][0], w_vkeys, go_tool)
        # Each witness advanced all four logs it witnessed (two case logs, two journals).
        for w in ("w1", "w2"):
            with sqlite3.connect(tmp_path / w / "witness.db") as db:
                sizes = dict(db.execute("SELECT origin, size FROM witness_logs").fetchall())
            assert set(sizes) == set(trusted) and all(sizes.values()), sizes


def _check_one_log(c: httpx.Client, settings: Settings, log_vkey: str, w_vkeys: list[str],
                   go_tool: Path) -> None:
    receipts = [append(c, f"W-{i}") for i in range(5)]
    last = receipts[-1]["index"]
    wait_for("a witnessed checkpoint covering the appends",
             lambda: (witnessing(c)["witnessed_size"] or 0) > last)
    note = c.get("/v1/log/checkpoint").content
    checkpoint = verify_checkpoint(note, Verifier.parse(log_vkey))
    assert checkpoint.origin == settings.origin and checkpoint.size > last
    lines = signature_lines(note)
    assert lines[0].startswith(f"\u2014 {settings.origin} ")  # the log's own line first
    assert [line.split(" ")[1] for line in lines[1:]] == ["w1.test/witness", "w2.test/witness"]
    body = checkpoint.to_body()
    for line, vkey in zip(lines[1:], w_vkeys, strict=True):
        assert abs(verify_cosignature(line, body, vkey) - time.time()) < 120

    alone = run_go(go_tool, "note-verify", {"vkey": log_vkey, "note": note.decode()})
    assert alone["ok"] and alone["body"] == body.decode(), alone
    cosigned = run_go(go_tool, "cosigned-open", {"log_vkey": log_vkey, "note": note.decode(),
                                                 "witness_vkeys": w_vkeys})
    assert cosigned["ok"], cosigned
    assert [v["name"] for v in cosigned["verified"]] == [
        settings.origin, "w1.test/witness", "w2.test/witness"]

    state = witnessing(c)
    assert state["quorum"] == 2
    for name in ("w1.test/witness", "w2.test/witness"):
        assert state["witnesses"][name]["ok"] and state["witnesses"][name]["cosignatures"] >= 1
    metrics = c.get("/metrics").text
    assert re.search(r'temoin_witnessed_size\{log="log"\} (\d+)', metrics)
    assert 'temoin_witness_up{log="log",witness="w1.test/witness"} 1' in metrics

    # The access journal: reading a case appends to it; its checkpoints get witnessed too.
    assert c.get("/v1/cases/W-0/timeline").status_code == 200
    wait_for("a witnessed access-journal checkpoint",
             lambda: (witnessing(c, "access")["witnessed_size"] or 0) >= 1)


def test_a_witness_down_or_refusing_never_blocks_appends(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", data_dir=tmp_path / "t",
                        origin="t.example/log")
    log_vkey, access_vkey = log_keys(settings)
    trusted = {settings.origin: log_vkey, f"{settings.origin}/access": access_vkey}
    up_vkey = make_witness(tmp_path / "up", "up.test/witness", trusted)
    down_vkey = make_witness(tmp_path / "down", "down.test/witness", trusted)
    # Knows nothing of this log: it answers 404 to every checkpoint.
    stranger_vkey = make_witness(tmp_path / "stranger", "stranger.test/witness", {})
    # Configured with a key the witness at that URL does not hold: its lines never verify.
    wrong_vkey = WitnessKey.generate("wrong.test/witness").verifier_key
    down = WitnessProcess(tmp_path / "down", free_port(), tmp_path / "down.log")
    with running_witness(tmp_path / "up", tmp_path / "up.log") as up, running_witness(
            tmp_path / "stranger", tmp_path / "stranger.log") as stranger:
        env = {"TEMOIN_WITNESSES": " ".join([
            up.url, up_vkey, down.url, down_vkey, stranger.url, stranger_vkey,
            up.url, wrong_vkey]), "TEMOIN_WITNESS_QUORUM": "1", **FAST}
        token = admin_token(settings)
        with serving(settings, tmp_path / "serve.log", **env) as served, httpx.Client(
                base_url=served.base_url, timeout=30,
                headers={"Authorization": f"Bearer {token}"}) as c:
            receipts = [append(c, f"D-{i}") for i in range(20)]
            last = receipts[-1]["index"]
            # The quorum (1) is met by the witness that is up.
            wait_for("the quorum", lambda: (witnessing(c)["witnessed_size"] or 0) > last)

            def failing() -> dict[str, Any]:
                metrics = c.get("/metrics").text
                found = {}
                for name, reason in (("down", "unreachable"), ("stranger", "http_404"),
                                     ("wrong", "bad_cosignature")):
                    m = re.search(rf'temoin_witness_failures_total\{{log="log",witness='
                                  rf'"{name}.test/witness",reason="{reason}"\}} (\d+)', metrics)
                    if m and int(m.group(1)) >= 1:
                        found[name] = metrics
                return found if len(found) == 3 else {}

            metrics = next(iter(wait_for("failures in /metrics", failing).values()))
            assert 'temoin_witness_up{log="log",witness="down.test/witness"} 0' in metrics
            assert 'temoin_witness_up{log="log",witness="up.test/witness"} 1' in metrics
            state = witnessing(c)["witnesses"]
            assert not state["down.test/witness"]["ok"]
            assert state["down.test/witness"]["last_error"].startswith("unreachable: ")
            assert "404" in state["stranger.test/witness"]["last_error"]
            assert "no valid cosignature by the configured key" in (
                state["wrong.test/witness"]["last_error"])
            log_text = (tmp_path / "serve.log").read_text()
            assert "witness stranger.test/witness" in log_text and "http_404" in log_text

            # The witness comes back: the latest checkpoint gets its cosignature too.
            down.start()
            try:
                receipt = append(c, "D-late")

                def cosigned_by_down() -> bool:
                    note = c.get("/v1/log/checkpoint").content
                    size = verify_checkpoint(note, Verifier.parse(log_vkey)).size
                    names = [line.split(" ")[1] for line in signature_lines(note)]
                    return size > receipt["index"] and "down.test/witness" in names

                wait_for("the returned witness's cosignature", cosigned_by_down)
                assert witnessing(c)["witnesses"]["down.test/witness"]["ok"]
            finally:
                down.stop()
            assert c.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("env, words", [
    ({"TEMOIN_WITNESSES": "http://127.0.0.1:1"}, "has no partner"),
    ({"TEMOIN_WITNESSES": "ftp://x w+00000000+AAAA"}, "expected an http(s) URL"),
    ({"TEMOIN_WITNESSES": "http://127.0.0.1:1 garbage"}, "pair 1 (http://127.0.0.1:1)"),
    ({"TEMOIN_WITNESSES": "", "TEMOIN_WITNESS_QUORUM": "1"}, "lists only 0 witness"),
    ({"TEMOIN_WITNESS_QUORUM": "two"}, "TEMOIN_WITNESS_QUORUM must be a whole number"),
    ({"TEMOIN_WITNESS_MAX_BACKOFF": "-1"}, "TEMOIN_WITNESS_MAX_BACKOFF must be >= 0"),
])
def test_bad_witness_settings_stop_serve_with_the_reason(
    tmp_path: Path, env: dict[str, str], words: str
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path / "x",
                        origin="x.example/log")
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "serve", "--port", str(free_port())],
        env=env_for(settings, **env), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in out.stderr, out.stderr


def test_a_log_key_given_as_a_witness_key_is_refused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'y.db'}", data_dir=tmp_path / "y",
                        origin="y.example/log")
    log_vkey, _ = log_keys(settings)
    out = temoin(settings, "serve", "--port", str(free_port()), check=False,
                 TEMOIN_WITNESSES=f"http://127.0.0.1:1 {log_vkey}")
    assert out.returncode == 2 and "0x01 is a log's note key" in out.stderr, out.stderr


def test_a_restarted_log_server_resyncs_from_the_witness_size(tmp_path: Path) -> None:
    """The client starts from old 0 after a restart; the witness's 409 text/x.tlog.size gives
    its size and the next request, from there with a consistency proof, is cosigned."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", data_dir=tmp_path / "r",
                        origin="r.example/log")
    log_vkey, _ = log_keys(settings)
    w_vkey = make_witness(tmp_path / "w", "w.test/witness", {settings.origin: log_vkey})
    token = admin_token(settings)
    with running_witness(tmp_path / "w", tmp_path / "w.log") as w:
        env = {"TEMOIN_WITNESSES": f"{w.url} {w_vkey}", "TEMOIN_WITNESS_QUORUM": "1", **FAST}
        sizes = []
        for run in range(2):
            with serving(settings, tmp_path / f"serve{run}.log", **env) as served, \
                    httpx.Client(base_url=served.base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
                receipts = [append(c, f"R{run}-{i}") for i in range(3)]
                sizes.append(wait_for("witnessed", lambda c=c, r=receipts: (
                    w := witnessing(c)["witnessed_size"] or 0) > r[-1]["index"] and w))
                assert witnessing(c)["witnesses"]["w.test/witness"]["consecutive_failures"] == 0
        state = httpx.get(f"{w.url}/healthz").json()["logs"]
        assert state == [{"origin": settings.origin, "size": sizes[1]}] and sizes[1] > sizes[0]


def test_latency_measurement_runs(tmp_path: Path) -> None:
    """scripts/witness_latency.py, which the benchmark reuses, on a few appends."""
    from scripts.witness_latency import run_local

    result = run_local(appends=10, rate=20, database_url=None)
    assert len(result.samples) == 10 and all(0 <= s < 30 for s in result.samples)
    assert "p50" in result.summary()


def test_hostile_witness_answers_store_nothing(tmp_path: Path) -> None:
    """A witness (here a fake one, in this process) that answers garbage, a huge body, a bad
    409 size, a valid-looking line over another checkpoint, or 500: each is a counted failure
    with its reason, the server keeps appending, and no attestation is stored."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key = WitnessKey.generate("fake.test/witness")
    other_body = b"other.example/log\n1\n" + b"A" * 43 + b"=\n"
    answers = [
        (200, "text/plain", b"this is not a signature line\n"),
        (200, "text/plain", b"\xe2\x80\x94 fake.test/witness " + b"A" * (1 << 20) + b"\n"),
        (409, "text/x.tlog.size", b"not a number\n"),
        (200, "text/plain", key.cosign(other_body, int(time.time())).encode()),
        (500, "text/plain", b"boom"),
    ]
    served: list[int] = []

    class Hostile(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, media, body = answers[len(served) % len(answers)]
            served.append(status)
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path / "h",
                        origin="h.example/log")
    token = admin_token(settings)
    env = {"TEMOIN_WITNESSES": f"http://127.0.0.1:{httpd.server_address[1]} "
                               f"{key.verifier_key}",
           "TEMOIN_WITNESS_MAX_BACKOFF": "0.2", "TEMOIN_WITNESS_TIMEOUT": "2"}
    try:
        with serving(settings, tmp_path / "serve.log", **env) as s, httpx.Client(
                base_url=s.base_url, timeout=30,
                headers={"Authorization": f"Bearer {token}"}) as c:
            for i in range(3):
                append(c, f"H-{i}")

            def all_reasons() -> str:
                text = c.get("/metrics").text
                want = ["bad_cosignature", "bad_answer", "http_500"]
                return text if all(f'reason="{r}"' in text for r in want) else ""

            metrics = wait_for("every kind of failure", all_reasons)
            assert 'temoin_witness_cosignatures_total{log="log",witness="fake.test/witness"} 0' \
                in metrics
            note = c.get("/v1/log/checkpoint").content
            assert len(signature_lines(note)) == 1  # the log's line only
            fake = witnessing(c)["witnesses"]["fake.test/witness"]
            assert fake["cosigned_size"] is None and not fake["ok"] and fake["failures"] >= 3
    finally:
        httpd.shutdown()
    with sqlite3.connect(tmp_path / "h.db") as db:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '%_attestations'")]
        assert tables and all(
            db.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,) for t in tables)
