"""A real `temoin witness serve` process for tests (separate from the logs it witnesses)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e import ROOT, free_port


def witness_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.cli", "witness", *args], cwd=ROOT,
                          capture_output=True, text=True, check=check, timeout=120)


def make_witness(data: Path, name: str, logs: dict[str, str]) -> str:
    """Create a witness in `data` trusting `logs` (origin -> log vkey); its verifier key."""
    vkey = witness_cli("key", "--data", str(data), "--name", name).stdout.strip()
    for origin, log_vkey in logs.items():
        witness_cli("add-log", "--data", str(data), "--origin", origin, "--key", log_vkey)
    return vkey


@dataclass
class WitnessProcess:
    data: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WitnessProcess:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "witness", "serve", "--data", str(self.data),
             "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"witness exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"witness did not answer: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process = None


@contextmanager
def running_witness(data: Path, log: Path, port: int | None = None) -> Iterator[WitnessProcess]:
    proc = WitnessProcess(data, port or free_port(), log).start()
    try:
        yield proc
    finally:
        proc.stop()
