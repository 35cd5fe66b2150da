"""A real `temoin serve` process for end-to-end tests (not the in-process test client)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ledger.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMOIN_")}
    env.update(TEMOIN_DATABASE_URL=settings.database_url, TEMOIN_DATA_DIR=str(settings.data_dir),
               TEMOIN_LOG_ORIGIN=settings.origin, PYTHONPATH=str(ROOT), **extra)
    return env


def temoin(settings: Settings, *args: str, check: bool = True,
           **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the `temoin` command line in a subprocess with these settings."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args], env=env_for(settings, **extra),
        capture_output=True, text=True, check=check, timeout=300, cwd=ROOT,
    )


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    port: int
    log: Path

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temoin serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"temoin serve did not answer: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(settings: Settings, log: Path, port: int | None = None,
                 args: Sequence[str] = (), *, new_session: bool = False,
                 **extra: str) -> Served:
    """`temoin serve` on `port`; `new_session` puts it in a process group of its own, as
    systemd does, so that a test can signal the whole group (os.killpg(process.pid, ...))."""
    port = port or free_port()
    out = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         *args],
        env=env_for(settings, **extra), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        start_new_session=new_session,
    )
    served = Served(process, f"http://127.0.0.1:{port}", port, log)
    served.wait_ready()
    return served


@contextmanager
def serving(settings: Settings, log: Path, args: Sequence[str] = (),
            **extra: str) -> Iterator[Served]:
    served = start_server(settings, log, args=args, **extra)
    try:
        yield served
    finally:
        served.stop()


def admin_token(settings: Settings, tenant: str = "shop-1") -> str:
    out = temoin(settings, "keys", "create", "--role", "admin", "--tenant", tenant, "--json")
    return str(json.loads(out.stdout)["token"])
