"""Three `temoin serve` processes on one PostgreSQL database: one log, never forked.

Client threads append through all three servers at random (a retry may reach another server
than its first attempt, so the Idempotency-Key must hold across processes), to the same shared
cases. Meanwhile racers send `expected_seq` on purpose at the same moment through different
servers: exactly one wins each race, the others get 409. At the end: dense indices, every
receipt in place, each case's case_seq contiguous, one tree (every checkpoint any server signed
has the root the leaves imply, and the latest checkpoints of the three servers are linked by
consistency proofs), `temoin verify` clean.
"""

from __future__ import annotations

import itertools
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ledger.config import Settings
from ledger.merkle import verify_consistency
from ledger.signing import Verifier, verify_checkpoint
from scripts.torture import Outcome, Workload, audit, wait_for_acks
from tests.conftest import pg_database
from tests.e2e import Served, admin_token, env_for, start_server

pytestmark = pytest.mark.postgres

SERVERS = 3
CLIENTS = 4
SHARED = [f"SHARED-{i}" for i in range(3)]
RACE_CASES = [f"RACE-{i}" for i in range(2)]
ROUNDS = 8


def _race(workload: Workload, tokens: list[str], servers: list[Served], case: str,
          expected_seq: int, rng: random.Random) -> list[Outcome]:
    """One racer per server, released together, all with the same expected_seq."""
    barrier = threading.Barrier(len(servers))
    results: list[Outcome] = []
    lock = threading.Lock()

    def racer(n: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {tokens[n]}"}, timeout=30) as http:
            barrier.wait()
            outcome = workload.event(http, random.Random(rng.random()), case,
                                     expected_seq=expected_seq, base=servers[n].base_url)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_three_servers_one_database(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    with pg_database() as url:
        settings = Settings(database_url=url, data_dir=tmp_path / "data",
                            origin="test.example/log")
        token = admin_token(settings)
        servers: list[Served] = []
        try:
            # Started together: their schema creation races too (an advisory lock serialises it).
            with ThreadPoolExecutor(SERVERS) as pool:
                started = [pool.submit(start_server, settings, tmp_path / f"serve-{n}.log")
                           for n in range(SERVERS)]
            failed = [e for f in started if (e := f.exception()) is not None]
            servers += [f.result() for f in started if f.exception() is None]  # stopped below
            if failed:
                raise failed[0]
            with httpx.Client(base_url=servers[0].base_url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as admin:
                tokens = [admin.post("/v1/keys", json={"role": "appender"}).json()["token"]
                          for _ in range(CLIENTS + SERVERS)]
            urls = [s.base_url for s in servers]
            workload = Workload(urls, tokens[:CLIENTS], SHARED + RACE_CASES, seed=seed,
                                evidence=False)
            workload.open_shared_cases()
            # The racers' cases are written by the racers only, so each race starts from a
            # known case_seq: the background clients write to SHARED only.
            workload.shared_cases = list(SHARED)
            workload.start()
            assert wait_for_acks(workload, 20, timeout=60)
            seqs = dict.fromkeys(RACE_CASES, 1)
            wins = conflicts = 0
            for round_ in range(ROUNDS):
                case = RACE_CASES[round_ % len(RACE_CASES)]
                results = _race(workload, tokens[CLIENTS:], servers, case, seqs[case], rng)
                statuses = sorted(o.status or 0 for o in results)
                assert len([s for s in statuses if s in (200, 201)]) == 1, (round_, results)
                assert statuses.count(409) == SERVERS - 1, (round_, results)
                # A stale expected_seq after the race loses too, on any server.
                with httpx.Client(headers={"Authorization": f"Bearer {tokens[CLIENTS]}"},
                                  timeout=30) as http:
                    late = workload.event(http, rng, case, expected_seq=seqs[case],
                                          base=rng.choice(urls))
                assert late.status == 409, late
                seqs[case] += 1
                wins += 1
                conflicts += SERVERS
            assert wait_for_acks(workload, 20, timeout=60)
            hung = workload.stop()
            assert not hung, hung

            verifier = None
            latest = []
            for served in servers:
                with httpx.Client(base_url=served.base_url, timeout=30,
                                  headers={"Authorization": f"Bearer {token}"}) as c:
                    c.post("/v1/log/checkpoint").raise_for_status()
                    verifier = verifier or Verifier.parse(c.get("/v1/log/key").text.strip())
                    latest.append(verify_checkpoint(c.get("/v1/log/checkpoint").content,
                                                    verifier))
                    case = c.get(f"/v1/cases/{RACE_CASES[0]}").json()
                    assert case["last_seq"] == seqs[RACE_CASES[0]]
            latest.sort(key=lambda cp: cp.size)
            with httpx.Client(base_url=servers[0].base_url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                for older, newer in itertools.pairwise(latest):
                    if older.size == newer.size:
                        assert older.root == newer.root, "two roots for one size: a fork"
                        continue
                    proof = c.get("/v1/log/proofs/consistency",
                                  params={"from": older.size, "to": newer.size}).json()
                    verify_consistency(older.size, newer.size, older.root, newer.root,
                                       [bytes.fromhex(h) for h in proof["proof"]])
        finally:
            for served in servers:
                served.stop()
        stats = workload.stats
        assert not stats.bad_answers, stats.bad_answers[:5]
        result = audit(url, settings.data_dir, workload, tenant="shop-1",
                       verify_env=env_for(settings))
        print(f"seed {seed}; {SERVERS} servers; answers {dict(stats.statuses)}; {wins} races "
              f"won once each, {conflicts} stale expected_seq refused with 409; "
              f"{result.summary()}")
        assert not result.failures(), "\n".join(result.failures()[:20])
        assert result.verify_ok, result.verify_output
        assert result.refused == conflicts
        for served in servers:
            assert "unhandled error" not in served.log.read_text()
