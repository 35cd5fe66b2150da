"""Several processes appending to the same cases never fork the tree nor reuse an index."""

from __future__ import annotations

import multiprocessing as mp
import random
import time

from ledger.audit import verify_log
from ledger.config import Settings
from ledger.errors import BusyError
from ledger.ledger import Ledger
from tests.conftest import RawDB
from tests.helpers import request

PROCESSES = 4
APPENDS = 500
CASES = [f"SHARED-{i}" for i in range(6)]


def _worker(settings: Settings, seed: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    rng = random.Random(seed)
    ledger = Ledger(settings)
    indices: list[int] = []
    try:
        for _ in range(APPENDS):
            case = rng.choice(CASES)
            for attempt in range(50):
                try:
                    indices += [r.index for r in ledger.append([request(case, "OtpFailed")])]
                    break
                except BusyError:
                    time.sleep(0.005 * (attempt + 1))  # a client's retry with back-off
            else:
                raise RuntimeError("gave up after 50 busy answers")
    finally:
        ledger.close()
    out.put(indices)


def test_processes_appending_to_shared_cases(settings: Settings, raw_db: RawDB) -> None:
    ledger = Ledger(settings)
    ledger.append([request(c, "CaseOpened") for c in CASES])
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(settings, seed, out)) for seed in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    indices = sorted(i for r in results for i in r)
    total = PROCESSES * APPENDS
    assert len(indices) == total
    assert len(set(indices)) == total, "an index was handed out twice"
    assert indices == list(range(len(CASES), len(CASES) + total)), "gap in the indices"
    assert ledger.tree_size() == total + len(CASES)
    rows = raw_db.query("SELECT count(*), min(idx), max(idx) FROM cases_leaves")
    assert tuple(rows[0]) == (total + len(CASES), 0, total + len(CASES) - 1)
    ledger.sign_checkpoint()
    report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master)
    assert report.ok, [str(a) for a in report.anomalies[:10]]
    seqs = [len(ledger.case_entries("shop-1", c)) for c in CASES]
    assert sum(seqs) == total + len(CASES)
    ledger.close()


def _open_and_close(settings: Settings) -> None:
    from ledger.access import AccessJournal

    ledger = Ledger(settings)
    AccessJournal(settings).close()
    ledger.close()


def test_processes_creating_the_schema_at_once(settings: Settings) -> None:
    # Several servers starting together on an empty database must not race on the DDL
    # (PostgreSQL answered "tuple concurrently updated" before the advisory lock).
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open_and_close, args=(settings,)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 6
