"""A database-only attacker against a running `temoin serve`, on both backends (issue 11).

The attacker rewrites an entry consistently (its bytes, its leaf and every interior node above
it) and deletes the checkpoint rows, or rolls the database back to an older state. The signer
state kept beside the key makes the server refuse to sign, answer 503 on /healthz and appends
naming both tree heads; `temoin verify --trusted` and `temoin monitor` catch it from checkpoints
kept elsewhere. An operator who also replaces the state file gets a signed fork, which a monitor
that saw the log before catches.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.access import AccessJournal
from ledger.checkpoint import Checkpoint
from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.merkle import EMPTY_ROOT, node_hash
from ledger.signing import LogKey, Verifier, sign_checkpoint, verify_checkpoint
from tests.api_server import example
from tests.conftest import RawDB
from tests.e2e import ROOT, Served, admin_token, env_for, free_port, serving, temoin
from tests.forgery import rewrite_entry, roll_back

AMOUNT = b'"amount_cents":12990'
FORGED = b'"amount_cents":99990'


def _client(served: Served, token: str) -> httpx.Client:
    return httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)


def _fill(c: httpx.Client, cases: int = 3, first: int = 0) -> None:
    for n in range(first, first + cases):
        c.post(f"/v1/cases/FORK-{n}/events", json=example("CaseOpened")).raise_for_status()
        c.post(f"/v1/cases/FORK-{n}/events", json=example("RefundIssued")).raise_for_status()


def _stored_root(db: RawDB, size: int, prefix: str = "cases") -> bytes:
    """The root the stored leaves give (naive RFC 9162 over the stored leaf hashes)."""
    leaves = [bytes(r[0]) for r in db.query(
        f"SELECT hash FROM {prefix}_leaves WHERE idx < ? ORDER BY idx", (size,))]

    def fold(hashes: list[bytes]) -> bytes:
        if len(hashes) == 1:
            return hashes[0]
        k = 1
        while k * 2 < len(hashes):
            k *= 2
        return node_hash(fold(hashes[:k]), fold(hashes[k:]))

    return fold(leaves)


def _wait(predicate: Any, what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _monitor(settings: Settings, served: Served, token: str, vkey: str, state: Path,
             *extra: str) -> subprocess.CompletedProcess[str]:
    return temoin(settings, "monitor", served.base_url, "--key", vkey, "--state", str(state),
                  "--once", *extra, check=False, TEMOIN_TOKEN=token)


@contextmanager
def _refusing_server(settings: Settings, log: Path) -> Iterator[str]:
    """A `temoin serve` expected to answer 503 from its first request (tests.e2e waits for
    200); yields its base URL."""
    port = free_port()
    out = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "serve", "--port", str(port)],
        env=env_for(settings), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"

    def answered() -> httpx.Response | None:
        try:
            return httpx.get(f"{url}/healthz", timeout=1)
        except httpx.HTTPError:
            return None

    try:
        _wait(answered, "the server", 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        out.close()


def _fork_problem(r: httpx.Response) -> str:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/log-fork"), body
    return str(body["detail"])


def test_consistent_rewrite_is_refused_and_caught(settings: Settings, tmp_path: Path) -> None:
    token = admin_token(settings)
    db = RawDB(settings.database_url)
    log = tmp_path / "serve.log"
    with serving(settings, log) as served, _client(served, token) as c:
        vkey = c.get("/v1/log/key").text.strip()
        _fill(c)
        note = c.post("/v1/log/checkpoint").content
        signed = verify_checkpoint(note, Verifier.parse(vkey))
        assert signed.size == 6
        (tmp_path / "lawyer.txt").write_bytes(note)
        first = _monitor(settings, served, token, vkey, tmp_path / "mon")
        assert first.returncode == 0, first.stderr
        assert "first checkpoint size 6" in first.stdout

        # Entry 5 is the last one of its case: rewriting it breaks no chain.
        rewrite_entry(db, 5, AMOUNT, FORGED)
        forged_root = _stored_root(db, 6)
        assert forged_root != signed.root

        # The idle check finds it within about a second, with no append needed.
        detail = _fork_problem(_wait(
            lambda: (r := c.get("/healthz")).status_code == 503 and r, "/healthz 503"))
        assert "size 6" in detail and signed.root.hex() in detail and forged_root.hex() in detail
        appended = c.post("/v1/cases/FORK-9/events", json=example("CaseOpened"))
        assert _fork_problem(appended) == detail
        r = c.post("/v1/batches", json={"events": [{"case": "FORK-9", **example("CaseOpened")}]})
        _fork_problem(r)
        assert db.query("SELECT count(*) FROM cases_leaves")[0][0] == 6  # nothing accepted
        _fork_problem(c.get("/v1/log/checkpoint"))
        assert db.query("SELECT count(*) FROM cases_checkpoints")[0][0] == 0  # nothing signed

        alarm = _monitor(settings, served, token, vkey, tmp_path / "mon")
        assert alarm.returncode == 1, alarm.stdout + alarm.stderr
        assert "ALARM" in alarm.stdout and "size 6" in alarm.stdout
        assert signed.root.hex() in alarm.stdout

    assert "REFUSING" in log.read_text() and signed.root.hex() in log.read_text()
    plain = temoin(settings, "verify", check=False)
    assert plain.returncode == 1, plain.stdout
    assert f"signer state {settings.data_dir / 'log.state'} size 6" in plain.stdout
    trusted = temoin(settings, "verify", "--trusted", str(tmp_path / "lawyer.txt"), check=False)
    assert trusted.returncode == 1
    line = next(x for x in trusted.stdout.splitlines() if x.startswith("trusted checkpoint"))
    assert "size 6" in line and signed.root.hex() in line and forged_root.hex() in line

    # A restart checks before serving: still refusing, from the first request on.
    with _refusing_server(settings, tmp_path / "restart.log") as url:
        assert "size 6" in _fork_problem(httpx.get(f"{url}/healthz"))


def test_rollback_is_refused_and_caught(settings: Settings, tmp_path: Path) -> None:
    token = admin_token(settings)
    db = RawDB(settings.database_url)
    with serving(settings, tmp_path / "serve.log") as served, _client(served, token) as c:
        vkey = c.get("/v1/log/key").text.strip()
        _fill(c, 2)
        old = c.post("/v1/log/checkpoint").content
        (tmp_path / "old.txt").write_bytes(old)
        _fill(c, 1, first=2)  # 2 more entries
        newer = verify_checkpoint(c.post("/v1/log/checkpoint").content, Verifier.parse(vkey))
        assert newer.size == 6
        (tmp_path / "newer.txt").write_bytes(c.get("/v1/log/checkpoint").content)
        assert _monitor(settings, served, token, vkey, tmp_path / "mon").returncode == 0

        roll_back(db, 4)
        detail = _fork_problem(_wait(
            lambda: (r := c.get("/healthz")).status_code == 503 and r, "/healthz 503"))
        assert "size 6" in detail and "size 4" in detail and newer.root.hex() in detail
        _fork_problem(c.post("/v1/cases/FORK-7/events", json=example("CaseOpened")))
        assert db.query("SELECT count(*) FROM cases_leaves")[0][0] == 4
        alarm = _monitor(settings, served, token, vkey, tmp_path / "mon")
        assert alarm.returncode == 1 and "ALARM" in alarm.stdout

    # The older checkpoint is still consistent; the newer one names the rollback.
    result = temoin(settings, "verify", "--trusted", str(tmp_path / "old.txt"),
                    str(tmp_path / "newer.txt"), check=False)
    assert result.returncode == 1
    lines = [x for x in result.stdout.splitlines() if x.startswith("trusted checkpoint")]
    assert len(lines) == 1 and "newer.txt size 6" in lines[0] and "rolled back" in lines[0]
    assert newer.root.hex() in lines[0]

    status = temoin(settings, "signer", "status", check=False)
    assert status.returncode == 1 and "case log FORK" in status.stdout and "size 6" in status.stdout
    # Recovery by accepting the fork: refused without the flag, then archived and restartable.
    refused = temoin(settings, "signer", "reset", check=False)
    assert refused.returncode == 2 and "--i-understand-this-forks-the-log" in refused.stderr
    reset = temoin(settings, "signer", "reset", "--i-understand-this-forks-the-log")
    assert "archived" in reset.stdout
    archives = list(settings.data_dir.glob("log.state.forked-*"))
    assert len(archives) == 1 and archives[0].read_bytes() == (tmp_path / "newer.txt").read_bytes()
    assert temoin(settings, "signer", "status").stdout.count("the database (size") == 2
    with serving(settings, tmp_path / "serve2.log") as served, _client(served, token) as c:
        c.post("/v1/cases/FORK-7/events", json=example("CaseOpened")).raise_for_status()
        assert c.get("/healthz").status_code == 200


def test_operator_who_replaces_the_state_is_caught_by_a_monitor(
    settings: Settings, tmp_path: Path
) -> None:
    """The signer state does not stop whoever also controls the key's folder; a monitor that
    saw the log before does."""
    token = admin_token(settings)
    db = RawDB(settings.database_url)
    with serving(settings, tmp_path / "serve.log") as served, _client(served, token) as c:
        vkey = c.get("/v1/log/key").text.strip()
        _fill(c)
        seen = verify_checkpoint(c.post("/v1/log/checkpoint").content, Verifier.parse(vkey))
        (tmp_path / "seen.txt").write_bytes(c.get("/v1/log/checkpoint").content)
        assert _monitor(settings, served, token, vkey, tmp_path / "mon").returncode == 0
    rewrite_entry(db, 5, AMOUNT, FORGED)
    (settings.data_dir / "log.state").unlink()
    with serving(settings, tmp_path / "serve2.log") as served, _client(served, token) as c:
        forked = verify_checkpoint(c.get("/v1/log/checkpoint").content, Verifier.parse(vkey))
        assert forked.size == 6 and forked.root != seen.root  # the server signed the fork
        alarm = _monitor(settings, served, token, vkey, tmp_path / "mon")
        assert alarm.returncode == 1
        assert (f"ALARM fork: saw size 6 root {seen.root.hex()}, now served size 6 root "
                f"{forked.root.hex()}") in alarm.stdout
        assert len(list((tmp_path / "mon").glob("fork-6-*.note"))) == 1
        # The monitor's state is still the checkpoint it saw, usable as --trusted.
        kept = (tmp_path / "mon" / "checkpoint").read_bytes()
        assert kept == (tmp_path / "seen.txt").read_bytes()
        c.post("/v1/cases/FORK-8/events", json=example("CaseOpened")).raise_for_status()
        c.post("/v1/log/checkpoint").raise_for_status()
        grown = _monitor(settings, served, token, vkey, tmp_path / "mon")
        assert grown.returncode == 1
        assert "consistency proof between them fails" in grown.stdout
    result = temoin(settings, "verify", "--trusted", str(tmp_path / "mon" / "checkpoint"),
                    check=False)
    assert result.returncode == 1 and "size 6" in result.stdout


def test_access_journal_gets_checkpoints_after_reads(settings: Settings, tmp_path: Path) -> None:
    token = admin_token(settings)
    db = RawDB(settings.database_url)
    with serving(settings, tmp_path / "serve.log") as served, _client(served, token) as c:
        _fill(c, 1)
        for _ in range(5):
            c.get("/v1/cases/FORK-0").raise_for_status()
        size = db.query("SELECT count(*) FROM access_leaves")[0][0]
        assert size == 5
        _wait(lambda: db.query("SELECT max(size) FROM access_checkpoints")[0][0] == size,
              "a checkpoint of the access journal", timeout=5)
    key = LogKey.load(settings.data_dir / "access.key")
    state = settings.data_dir / "access.state"
    assert verify_checkpoint(state.read_bytes(), key.verifier()).size == 5
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(settings.data_dir / "log.state").st_mode) == 0o600
    # `temoin checkpoint` signs both and prints the case log's first.
    out = temoin(settings, "checkpoint").stdout
    assert out.count("\u2014 ") == 2 and out.startswith("test.example/log\n")
    assert "test.example/log/access\n5\n" in out

    # A rewrite of the access journal is refused too, and reads are no longer recorded.
    (tmp_path / "access-copy.txt").write_bytes(state.read_bytes())
    rewrite_entry(db, 4, b'"action":"read_case"', b'"action":"read_xase"', prefix="access")
    with _refusing_server(settings, tmp_path / "serve2.log") as url, httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        detail = _fork_problem(c.get("/healthz"))
        assert "test.example/log/access" in detail
        _fork_problem(c.get("/v1/cases/FORK-0"))
    assert db.query("SELECT count(*) FROM access_leaves")[0][0] == 5
    r = temoin(settings, "verify", "--trusted", str(tmp_path / "access-copy.txt"), check=False)
    assert r.returncode == 1
    assert "access journal trusted checkpoint" in r.stdout and "size 5" in r.stdout


def test_upgrade_starts_from_the_latest_stored_checkpoint(settings: Settings) -> None:
    ledger = Ledger(settings)
    try:
        cp = ledger.sign_checkpoint()
        state = ledger.state_path
        state.unlink()  # as before this version: checkpoints in the database, no state file
        again = ledger.sign_checkpoint()
        assert again == cp and state.read_bytes() == cp.note
    finally:
        ledger.close()
    journal = AccessJournal(settings)
    try:
        assert journal.sign_checkpoint().size == 0
        assert journal.state_path.exists()
    finally:
        journal.close()


def test_bad_trusted_files_and_monitor_input(settings: Settings, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"\x00\x01 not a note")
    r = temoin(settings, "verify", "--trusted", str(garbage), check=False)
    assert r.returncode == 2
    assert "garbage.txt: not a checkpoint signed by this log's key" in r.stderr
    other = LogKey.generate("test.example/log")
    (tmp_path / "other.txt").write_bytes(
        sign_checkpoint(other, Checkpoint("test.example/log", 0, EMPTY_ROOT)))
    r = temoin(settings, "verify", "--trusted", str(tmp_path / "other.txt"), check=False)
    assert r.returncode == 2 and "other.txt" in r.stderr and "key" in r.stderr
    r = temoin(settings, "verify", "--trusted", str(tmp_path / "missing.txt"), check=False)
    assert r.returncode == 2 and "cannot read it" in r.stderr

    token = admin_token(settings)
    with serving(settings, tmp_path / "serve.log") as served:
        vkey = httpx.get(f"{served.base_url}/v1/log/key",
                         headers={"Authorization": f"Bearer {token}"}).text.strip()
        mon = tmp_path / "mon"
        r = _monitor(settings, served, token, "not-a-key", mon)
        assert r.returncode == 2 and "--key" in r.stderr
        r = _monitor(settings, served, token, other.verifier_key, mon)
        assert r.returncode == 2 and "does not verify" in r.stderr
        r = _monitor(settings, served, "wrong-token", vkey, mon)
        assert r.returncode == 2 and "token was refused" in r.stderr
        r = temoin(settings, "monitor", served.base_url + "/docs", "--key", vkey, "--state",
                   str(mon), "--once", check=False, TEMOIN_TOKEN=token)
        assert r.returncode == 2 and "Témoin server" in r.stderr
        assert not (mon / "checkpoint").exists()
        assert _monitor(settings, served, token, vkey, mon).returncode == 0
    closed = f"http://127.0.0.1:{free_port()}"
    r = temoin(settings, "monitor", closed, "--key", vkey, "--state", str(mon), "--once",
               check=False, TEMOIN_TOKEN=token)
    assert r.returncode == 3 and "cannot reach the log" in r.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_monitor_loop_prints_each_new_checkpoint(settings: Settings, tmp_path: Path) -> None:
    token = admin_token(settings)
    with serving(settings, tmp_path / "serve.log") as served, _client(served, token) as c:
        vkey = c.get("/v1/log/key").text.strip()
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "monitor", served.base_url, "--key", vkey,
             "--state", str(tmp_path / "mon"), "--interval", "0.2"],
            env=env_for(settings, TEMOIN_TOKEN=token), stdout=subprocess.PIPE, text=True,
            cwd=ROOT)
        try:
            _fill(c, 1)
            c.post("/v1/log/checkpoint").raise_for_status()
            _wait(lambda: (tmp_path / "mon" / "checkpoint").exists()
                  and verify_checkpoint((tmp_path / "mon" / "checkpoint").read_bytes(),
                                        Verifier.parse(vkey)).size == 2, "the monitor")
        finally:
            proc.terminate()
            out = proc.communicate(timeout=30)[0]
        assert "consistent size" in out or "first checkpoint size 2" in out, out
    # The log went away: the loop says so and keeps trying instead of exiting.
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "monitor", served.base_url, "--key", vkey,
         "--state", str(tmp_path / "mon"), "--interval", "0.2"],
        env=env_for(settings, TEMOIN_TOKEN=token), stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        time.sleep(4)  # python start-up, then at least two attempts 0.2 s apart
        assert proc.poll() is None
    finally:
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
    assert err.count("cannot reach the log") >= 2, err

