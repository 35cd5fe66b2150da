"""PostgreSQL: 4 logs x 16 appenders against 1 log x 64 appenders, in the same run (issue 14,
target >= 1.6x; docs/PERFORMANCE.md "Many logs").

Both shapes run the same processes: 4 workers, as `temoin serve --workers 4` would, each with
its own Sequencer (group commit) and 16 appender threads opening cases. In "1 log x 64" all
four append to log 1, so their commits queue for log 1's one writer lock; in "4 logs x 16"
worker i appends to log i+1, each with its own lock, and the commits run in parallel. The
database, the machine and the code are the same: only the writer locks differ.

    python -m scripts.bench_logs [--seconds 20] [--rounds 2] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

WORKERS = 4
THREADS = 16
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _worker(url: str, data: str, log_id: int, seconds: float, start_at: float,
            out: mp.Queue) -> None:  # type: ignore[type-arg]
    from ledger.config import Settings
    from ledger.events.examples import EXAMPLES
    from ledger.events.validate import validate_append
    from ledger.ledger import AppendGroup, AppendRequest
    from ledger.logs import LogSet
    from ledger.sequencer import Sequencer

    settings = Settings(database_url=url, data_dir=Path(data), origin="bench.example/log",
                        pool_size=4)
    logs = LogSet(settings)
    ledger = logs.ledger(log_id)
    tenant = "shop-1" if log_id == 1 else f"shop-{log_id}"
    seq = Sequencer(ledger)
    ex = EXAMPLES["CaseOpened"]
    event = validate_append(ex["type"], ex["occurred_at"], ex["data"], ex.get("personal"),
                            ex.get("evidence"), now=datetime.now(UTC))
    counts = [0] * THREADS
    tag = uuid.uuid4().hex[:8]

    def appender(t: int) -> None:
        end = start_at + seconds
        i = 0
        while time.time() < end:
            case = f"B-{tag}-{t}-{i}"
            result = seq.submit(AppendGroup([AppendRequest(tenant, "bench", case, event)]))
            if isinstance(result.result(), list):
                counts[t] += 1
            i += 1

    time.sleep(max(0.0, start_at - time.time()))
    threads = [threading.Thread(target=appender, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seq.close()
    size = ledger.tree_size()
    logs.close()
    out.put((log_id, sum(counts), size))


def _run(url: str, data: str, log_ids: list[int], seconds: float) -> float:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 4.0  # every worker opened and warm before the clock starts
    procs = [ctx.Process(target=_worker, args=(url, data, log_id, seconds, start_at, out))
             for log_id in log_ids]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return sum(r[1] for r in results) / seconds


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    import psycopg

    name = f"temoin_bench_logs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds of each shape; the median is reported")
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a new one)")
    args = parser.parse_args(argv)

    from ledger.config import Settings
    from ledger.logs import LogSet

    with _database(args.url) as url, TemporaryDirectory() as data:
        logs = LogSet(Settings(database_url=url, data_dir=Path(data),
                               origin="bench.example/log"))
        try:
            for i in range(2, WORKERS + 1):
                logs.create(f"bench.example/log-{i}", [f"shop-{i}"])
        finally:
            logs.close()
        one: list[float] = []
        four: list[float] = []
        for r in range(args.rounds):
            shapes = [("one", [1] * WORKERS), ("four", list(range(1, WORKERS + 1)))]
            if r % 2:
                shapes.reverse()  # neither shape always runs on the warmer database
            for name, ids in shapes:
                rate = _run(url, data, ids, args.seconds)
                (one if name == "one" else four).append(rate)
                print(f"round {r + 1}: {'1 log x 64' if name == 'one' else '4 logs x 16'} "
                      f"appenders: {rate:,.0f} events/s", flush=True)
        a, b = statistics.median(one), statistics.median(four)
        print(f"1 log x {WORKERS * THREADS} appenders: {a:,.0f} events/s")
        print(f"{WORKERS} logs x {THREADS} appenders: {b:,.0f} events/s")
        print(f"ratio: {b / a:.2f}x (target >= 1.6x): {'met' if b / a >= 1.6 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
