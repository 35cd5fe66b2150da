"""How long from an append's answer until a checkpoint covering it is cosigned by the quorum.

`measure(base_url, token)` works against any running `temoin serve` that has witnesses: it
appends at a steady rate, polls /healthz (`details.witnessing.log.witnessed_size`) from another
thread, and for each append takes the first poll where the witnessed size covers its index.

`python -m scripts.witness_latency [--appends 200] [--rate 20] [--database-url URL]` runs the
whole set-up on this machine: two `temoin witness serve` processes, one `temoin serve` with
TEMOIN_WITNESS_QUORUM=2, in a temporary folder removed afterwards; it prints p50/p99.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.005


@dataclass(frozen=True)
class Latency:
    samples: list[float]  # seconds, one per append

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        return (f"{len(self.samples)} appends: append answered -> witnessed checkpoint "
                f"p50 {self.quantile(0.5) * 1000:.0f} ms, p99 {self.quantile(0.99) * 1000:.0f} "
                f"ms, max {max(self.samples) * 1000:.0f} ms, mean "
                f"{statistics.fmean(self.samples) * 1000:.0f} ms")


def measure(base_url: str, token: str, *, appends: int = 200, rate: float = 20.0,
            timeout: float = 120.0) -> Latency:
    """Append `appends` events at `rate` a second; the time until each is witnessed."""
    seen: list[tuple[float, int]] = []  # (monotonic time, witnessed size) when it changed
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base_url, timeout=10) as c:
            last = -1
            while not stop.is_set():
                details = c.get("/healthz").json()["details"]["witnessing"]["log"]
                size = details["witnessed_size"] or 0
                if size != last:
                    seen.append((time.monotonic(), size))
                    last = size
                time.sleep(POLL_SECONDS)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    answered: list[tuple[float, int]] = []
    run = uuid.uuid4().hex[:8]
    body = {"type": "CaseOpened", "occurred_at": "2026-11-20T10:00:00Z",
            "data": {"order_ref": "CMD-1", "merchant_id": "shop", "reason": "withdrawal"}}
    try:
        with httpx.Client(base_url=base_url, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            start = time.monotonic()
            for i in range(appends):
                r = c.post(f"/v1/cases/WL-{run}-{i}/events", json=body)
                r.raise_for_status()
                answered.append((time.monotonic(), int(r.json()["index"])))
                pause = start + (i + 1) / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        last_index = answered[-1][1]
        deadline = time.monotonic() + timeout
        while not seen or seen[-1][1] <= last_index:
            if time.monotonic() > deadline:
                raise TimeoutError(f"index {last_index} not witnessed within {timeout} s; "
                                   f"last witnessed size {seen[-1][1] if seen else None}")
            time.sleep(0.05)
    finally:
        stop.set()
        poller.join(timeout=5)
    samples = []
    for at, index in answered:
        # Sizes only grow; a poll may see the covering checkpoint a hair before the client
        # reads the append's answer, hence the floor at 0.
        covered = next(t for t, size in seen if size > index)
        samples.append(max(0.0, covered - at))
    return Latency(samples)


# --------------------------------------------------------------------------- self-contained run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "scripts.cli", *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip()


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", *args], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_local(appends: int, rate: float, database_url: str | None) -> Latency:
    with tempfile.TemporaryDirectory(prefix="temoin-witness-latency-") as tmp, ExitStack() as st:
        base = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMOIN_")}
        env.update(PYTHONPATH=str(ROOT), TEMOIN_DATA_DIR=str(base / "log"),
                   TEMOIN_LOG_ORIGIN="latency.example/log",
                   TEMOIN_DATABASE_URL=database_url or f"sqlite:///{base / 'log.db'}")
        log_vkey = _cli(env, "keygen")
        witnesses = []
        for i in (1, 2):
            data = str(base / f"w{i}")
            vkey = _cli(env, "witness", "key", "--data", data, "--name", f"w{i}.latency/w")
            _cli(env, "witness", "add-log", "--data", data, "--origin", "latency.example/log",
                 "--key", log_vkey)
            url = f"http://127.0.0.1:{_free_port()}"
            st.enter_context(_process(
                ["witness", "serve", "--data", data, "--port", url.rsplit(":", 1)[1],
                 "--log-level", "warning"], env, base / f"w{i}.log", url))
            witnesses += [url, vkey]
        token = json.loads(_cli(env, "keys", "create", "--role", "admin", "--tenant", "shop",
                                "--json"))["token"]
        port = _free_port()
        serve_env = {**env, "TEMOIN_WITNESSES": " ".join(witnesses),
                     "TEMOIN_WITNESS_QUORUM": "2"}
        url = f"http://127.0.0.1:{port}"
        st.enter_context(_process(["serve", "--port", str(port), "--log-level", "warning"],
                                  serve_env, base / "serve.log", url))
        return measure(url, token, appends=appends, rate=rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="appends a second")
    parser.add_argument("--database-url", help="default: a SQLite file in the temporary folder")
    args = parser.parse_args(argv)
    print(run_local(args.appends, args.rate, args.database_url).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
