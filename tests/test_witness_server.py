"""`temoin witness serve`, a real process, against every status of C2SP tlog-witness.

Raw HTTP requests; checkpoints are signed by a test log key over roots and proofs computed by
the naive reference Merkle code (tests/merkle_reference.py), not by the code under test.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ledger.checkpoint import Checkpoint
from ledger.cosignature import add_checkpoint_body, verify_cosignature
from ledger.signing import LogKey
from tests.merkle_reference import mth
from tests.merkle_reference import proof as consistency
from tests.witness_proc import make_witness, running_witness, witness_cli

ORIGIN = "test.example/log"
ENTRIES = [b"entry %d" % i for i in range(40)]


def body_of(size: int, entries: list[bytes] = ENTRIES, origin: str = ORIGIN) -> bytes:
    return Checkpoint(origin, size, mth(entries[:size])).to_body()


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/add-checkpoint", content=body, timeout=10)


def submit(url: str, key: LogKey, old: int, size: int, entries: list[bytes] = ENTRIES,
           proof: list[bytes] | None = None) -> httpx.Response:
    if proof is None:
        proof = consistency(old, entries[:size]) if 0 < old < size else []
    return post(url, add_checkpoint_body(old, proof, key.sign_note(body_of(size, entries))))


def stored(data: Path) -> list[tuple[str, int | None]]:
    with sqlite3.connect(data / "witness.db") as conn:
        return conn.execute("SELECT origin, size FROM witness_logs ORDER BY origin").fetchall()


@pytest.fixture
def log_key() -> LogKey:
    return LogKey.generate(ORIGIN)


@pytest.fixture
def witness_dir(tmp_path: Path, log_key: LogKey) -> tuple[Path, str]:
    data = tmp_path / "w1"
    return data, make_witness(data, "w1.test/witness", {ORIGIN: log_key.verifier_key})


def problem(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/problem+json", answer.headers
    assert words in answer.json()["detail"], answer.json()


def test_every_status_of_the_spec(tmp_path: Path, log_key: LogKey,
                                  witness_dir: tuple[Path, str]) -> None:
    data, vkey = witness_dir
    with running_witness(data, tmp_path / "w1.log") as w:
        # 200: first contact with old 0 and an empty proof.
        before = int(time.time())
        ok = submit(w.url, log_key, 0, 5)
        assert ok.status_code == 200, ok.text
        lines = ok.text.splitlines(keepends=True)
        assert len(lines) == 1 and lines[0].startswith("\u2014 w1.test/witness ")
        assert before <= verify_cosignature(lines[0], body_of(5), vkey) <= time.time() + 1

        # 409 text/x.tlog.size: old is not what the witness cosigned; the body is its size.
        conflict = submit(w.url, log_key, 0, 8)
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == "text/x.tlog.size"
        assert conflict.content == b"5\n"

        # 422: a proof that does not lead from the cosigned root to the new one.
        problem(submit(w.url, log_key, 5, 8, proof=consistency(4, ENTRIES[:8])), 422,
                "does not verify")
        forked = [*ENTRIES[:3], b"rewritten", *ENTRIES[4:]]
        problem(submit(w.url, log_key, 5, 8, entries=forked,
                       proof=consistency(5, forked[:8])), 422, "does not verify")

        # 200 with the right proof; then again for the same checkpoint (a client retry).
        assert submit(w.url, log_key, 5, 8).status_code == 200
        again = submit(w.url, log_key, 8, 8)
        assert again.status_code == 200
        verify_cosignature(again.text, body_of(8), vkey)

        # 409 same size, other root: a fork at the cosigned size (not a size answer).
        problem(submit(w.url, log_key, 8, 8, entries=forked), 409, "another root")

        # 400: old size beyond the checkpoint; malformed bodies.
        problem(submit(w.url, log_key, 9, 8), 400, "larger than the checkpoint size")
        problem(post(w.url, b"garbage"), 400, "no blank line")
        problem(post(w.url, b"old 8\n\nnot a note\n"), 400, "signed note")
        problem(post(w.url, add_checkpoint_body(8, [bytes(32)] * 64,
                                                log_key.sign_note(body_of(9)))), 400,
                "at most 63")

        # 404: a log the witness does not know.
        stranger = LogKey.generate("other.example/log")
        problem(post(w.url, add_checkpoint_body(0, [], stranger.sign_note(
            body_of(3, origin="other.example/log")))), 404, "unknown log origin")

        # 403: the right origin signed by another key (same name), or by no trusted key.
        impostor = LogKey.generate(ORIGIN)
        problem(post(w.url, add_checkpoint_body(8, consistency(8, ENTRIES[:10]),
                                                impostor.sign_note(body_of(10)))), 403,
                "no signature by the log key")
        tampered = log_key.sign_note(body_of(10)).replace(b"\n10\n", b"\n11\n")
        problem(post(w.url, add_checkpoint_body(8, consistency(8, ENTRIES[:11]), tampered)),
                403, "does not verify")

        # 413: a huge body is refused before it is read, declared or not.
        problem(post(w.url, b"old 0\n" + b"A" * (2 << 20)), 413, "at most")

        def chunks() -> object:
            for _ in range(200):
                yield b"B" * 4096

        problem(httpx.post(f"{w.url}/add-checkpoint", content=chunks(), timeout=10), 413,
                "at most")
        assert httpx.get(f"{w.url}/add-checkpoint").status_code == 405

        # None of the refusals moved the witness.
        assert stored(data) == [(ORIGIN, 8)]
        assert httpx.get(f"{w.url}/healthz").json()["logs"] == [{"origin": ORIGIN, "size": 8}]


def test_racing_submissions_cosign_one_and_state_survives_a_restart(
    tmp_path: Path, log_key: LogKey, witness_dir: tuple[Path, str]
) -> None:
    data, vkey = witness_dir
    with running_witness(data, tmp_path / "w1.log") as w:
        assert submit(w.url, log_key, 0, 10).status_code == 200
        # Ten clients race from old 10 to different sizes: the compare-and-set lets exactly
        # one through; the others learn the new size.
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda n: submit(w.url, log_key, 10, n), range(11, 21)))
        winners = [n for n, a in zip(range(11, 21), answers, strict=True) if a.status_code == 200]
        assert len(winners) == 1, [(a.status_code, a.text) for a in answers]
        losers = [a for a in answers if a.status_code != 200]
        assert all(a.status_code == 409 and a.content == f"{winners[0]}\n".encode()
                   for a in losers)
        size = winners[0]
    assert stored(data) == [(ORIGIN, size)]

    with running_witness(data, tmp_path / "w1-again.log") as w:
        # A rollback to an older size, and a fork at the cosigned size, are still refused.
        rollback = submit(w.url, log_key, 0, 9)
        assert rollback.status_code == 409 and rollback.content == f"{size}\n".encode()
        forked = [b"x", *ENTRIES[1:]]
        problem(submit(w.url, log_key, size, size, entries=forked), 409, "another root")
        grown = submit(w.url, log_key, size, 30)
        assert grown.status_code == 200
        verify_cosignature(grown.text, body_of(30), vkey)
    assert stored(data) == [(ORIGIN, 30)]


def test_witness_commands_refuse_bad_input_and_store_nothing(tmp_path: Path,
                                                             log_key: LogKey) -> None:
    data = tmp_path / "w"
    missing = witness_cli("key", check=False)
    assert missing.returncode == 2 and "--data" in missing.stderr
    not_yet = witness_cli("add-log", "--data", str(data), "--origin", ORIGIN, "--key",
                          log_key.verifier_key, check=False)
    assert not_yet.returncode == 2 and "witness key --data" in not_yet.stderr
    serve = witness_cli("serve", "--data", str(data), check=False)
    assert serve.returncode == 2 and "does not exist" in serve.stderr
    bad_name = witness_cli("key", "--data", str(data), "--name", "has space", check=False)
    assert bad_name.returncode == 2 and "witness key name" in bad_name.stderr

    vkey = witness_cli("key", "--data", str(data), "--name", "w.test/w").stdout.strip()
    assert vkey.startswith("w.test/w+")
    # Same folder, same key, printed again; another name for it is an error.
    assert witness_cli("key", "--data", str(data)).stdout.strip() == vkey
    renamed = witness_cli("key", "--data", str(data), "--name", "other", check=False)
    assert renamed.returncode == 2 and "already holds the key of witness 'w.test/w'" in (
        renamed.stderr)

    for key, words in [("garbage", "expected '<name>"),
                       (vkey, "algorithm byte 0x01"),  # a witness key is not a log key
                       (ORIGIN + "+00000000+" + log_key.verifier_key.split("+", 2)[2],
                        "key id")]:
        out = witness_cli("add-log", "--data", str(data), "--origin", ORIGIN, "--key", key,
                          check=False)
        assert out.returncode == 2 and words in out.stderr, out.stderr
    out = witness_cli("add-log", "--data", str(data), "--origin", "bad\x01origin", "--key",
                      log_key.verifier_key, check=False)
    assert out.returncode == 2 and "control character" in out.stderr, out.stderr
    assert stored(data) == []
    (data / "witness.key").write_text("PRIVATE+KEY+broken\n")
    broken = witness_cli("serve", "--data", str(data), check=False)
    assert broken.returncode == 2 and "restore the file from backup" in broken.stderr
