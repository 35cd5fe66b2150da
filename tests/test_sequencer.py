"""The sequencer's batching: a lone caller is never delayed, a steady crowd shares commits."""

from __future__ import annotations

import threading
import time

from ledger.ledger import AppendGroup, Ledger
from ledger.sequencer import Sequencer
from tests.helpers import request


def test_a_lone_caller_never_waits_for_company(ledger: Ledger) -> None:
    seq = Sequencer(ledger, linger=2.0)  # a wait would show as seconds
    try:
        started = time.monotonic()
        assert isinstance(seq.submit(AppendGroup([request("L", "CaseOpened")])).result(), list)
        for _ in range(5):
            result = seq.submit(AppendGroup([request("L", "OtpFailed")])).result()
            assert isinstance(result, list)
        assert time.monotonic() - started < 1.5
    finally:
        seq.close()


def test_a_steady_crowd_shares_its_commits(ledger: Ledger) -> None:
    sizes: list[int] = []
    seq = Sequencer(ledger, linger=0.25, on_commit=lambda events, _s: sizes.append(events))
    n, rounds = 8, 12
    ledger.append([request(f"C{i}", "CaseOpened") for i in range(n)])
    go = threading.Barrier(n)

    def appender(i: int) -> None:
        go.wait()
        for _ in range(rounds):
            assert isinstance(seq.submit(AppendGroup([request(f"C{i}", "OtpFailed")])).result(),
                              list)

    threads = [threading.Thread(target=appender, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    seq.close()
    assert sum(sizes) == n * rounds
    # Once the crowd is known, each commit waits for everyone: most carry all 8.
    assert sum(1 for s in sizes if s == n) >= rounds // 2, sizes
    assert ledger.tree_size() == n + n * rounds
