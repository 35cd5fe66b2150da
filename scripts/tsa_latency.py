"""How long from an append's answer to an RFC 3161 time-stamped checkpoint that covers it.

    python scripts/tsa_latency.py [--backend sqlite|postgres] [--appends 200] [--rate 20]

Starts a local TSA (scripts/local_tsa.py) and a real `temoin serve` using it, sends `--appends`
single-event appends at `--rate` per second, and watches `GET /v1/log/checkpoints` (every
`--poll` seconds): an append of index i is covered once a checkpoint of size > i carries a
token. Prints p50, p99 and max of (covered - answered), in milliseconds. The figure is the
checkpointer's pace (a checkpoint within a second of appends) plus the TSA's round trip; the
poll adds at most `--poll`. `measure()` is the reusable part (the benchmark can call it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from scripts.bench import bodies, database, percentile, served, sql_rows  # noqa: E402
from scripts.local_tsa import running  # noqa: E402


def measure(base_url: str, token: str, appends: int, rate: float, poll: float = 0.02,
            timeout: float = 60.0) -> list[float]:
    """Seconds from each append's answer to the first time-stamped checkpoint covering it."""
    headers = {"Authorization": f"Bearer {token}"}
    answered: dict[int, float] = {}  # leaf index -> monotonic time of the answer
    covered: dict[int, float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        cursor = -1  # the largest time-stamped size seen
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as c:
            while not done.is_set():
                items = c.get("/v1/log/checkpoints", params={"after": cursor}).json()
                now = time.monotonic()
                stamped = [i["size"] for i in items if i["timestamps"]]
                if stamped:
                    cursor = max(stamped)
                    with lock:
                        for index in answered.keys() - covered.keys():
                            if index < cursor:
                                covered[index] = now
                time.sleep(poll)

    watcher = threading.Thread(target=watch, name="tsa-latency-watch", daemon=True)
    watcher.start()
    body = bodies()["CaseOpened"]
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as c:
            start = time.monotonic()
            for n in range(appends):
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                r = c.post(f"/v1/cases/LAT-{n}/events", json=body)
                r.raise_for_status()
                with lock:
                    answered[int(r.json()["index"])] = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if len(covered) == len(answered):
                    break
            time.sleep(poll)
    finally:
        done.set()
        watcher.join(timeout=10)
    missing = len(answered) - len(covered)
    if missing:
        raise RuntimeError(f"{missing} appends had no time-stamped checkpoint after {timeout} s")
    return [covered[i] - answered[i] for i in answered]


def _moment(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="appends per second")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between reads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="temoin-tsa-latency-") as work:
        workdir = Path(work)
        with running(workdir / "tsa") as tsa, database(args.backend, "tsalat", workdir) as st:
            env = {"TEMOIN_TSA_URLS": tsa.url, "TEMOIN_TSA_ROOTS": str(tsa.roots)}
            with served(st, workdir, extra_env=env) as (base_url, token, _):
                latencies = measure(base_url, token, args.appends, args.rate, args.poll)
            requests = tsa.requests()
            # The TSA's part: from signing a checkpoint to storing its token.
            rows = sql_rows(st, "SELECT c.signed_at, a.obtained_at FROM cases_checkpoints c "
                                "JOIN cases_attestations a ON a.size = c.size")
    stamping = [(_moment(got) - _moment(signed)) for signed, got in rows]
    ms = {q: round(percentile(latencies, q) * 1000, 1) for q in (50, 99)}
    print(json.dumps({
        "backend": args.backend, "appends": len(latencies), "rate_per_s": args.rate,
        "p50_ms": ms[50], "p99_ms": ms[99], "max_ms": round(max(latencies) * 1000, 1),
        "signed_to_stored_p50_ms": round(percentile(stamping, 50) * 1000, 1),
        "signed_to_stored_max_ms": round(max(stamping) * 1000, 1),
        "tsa_requests": requests,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
