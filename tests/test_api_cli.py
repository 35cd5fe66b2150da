"""`temoin serve` and `temoin keys create` (API.md "Command line")."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.apikeys import authenticate
from ledger.config import Settings
from ledger.ledger import Ledger
from scripts.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"TEMOIN_DATA_DIR": str(tmp_path / "data"),
              "TEMOIN_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'temoin.db'}",
              "TEMOIN_LOG_ORIGIN": "cli.example/log"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_keys_create_prints_the_token_once(env: dict[str, str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "auditor", "--tenant", "shop-1"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert "\n" not in token and token.startswith("tm_key_")
    assert "shown only once" in err
    assert main(["keys", "create", "--role", "lawyer", "--tenant", "shop-1", "--case", "A",
                 "--case", "B", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert {"id", "token", "role", "tenant"} <= set(created)
    assert (created["role"], created["tenant"], created["cases"]) == ("lawyer", "shop-1",
                                                                       ["A", "B"])
    ledger = Ledger(Settings.from_env())
    try:
        key = authenticate(ledger.store, created["token"])
        assert key is not None and key.id == created["id"] and key.cases == {"A", "B"}
        assert authenticate(ledger.store, token) is not None
    finally:
        ledger.close()


def test_keys_create_refuses_a_lawyer_without_cases(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--role", "lawyer", "--tenant", "shop-1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--case" in err
    assert main(["keys", "create", "--role", "auditor", "--tenant", "bad tenant"]) == 2


def test_serve_creates_everything_and_answers(env: dict[str, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from scripts.cli import main; sys.exit(main())",
         "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert f"http://127.0.0.1:{port}" in lines[0]
        assert lines[1].startswith("verifier key: cli.example/log+")
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "temoin serve did not start listening"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "tree_size": 0}
        data = Path(env["TEMOIN_DATA_DIR"])
        assert (data / "log.key").is_file() and (data / "temoin.db").is_file()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
