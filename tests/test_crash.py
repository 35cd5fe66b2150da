"""Crash safety: SIGKILL a real `temoin serve` while clients append, restart it, lose nothing.

The CI-bounded half of scripts/torture.py (docs/RELIABILITY.md), on SQLite and PostgreSQL.
Client threads append continuously (single events to shared cases and to their own, batches
across cases, evidence files and the events citing them, personal data for the vault), each
request with its own Idempotency-Key. A connection cut by the kill leaves the outcome unknown:
the client sends the SAME request with the SAME key again until it gets an answer, and the
audit then demands exactly-once: every 2xx receipt's index holds that exact leaf, no event of
a request twice, indices dense 0..n-1, each case's case_seq contiguous, stored nodes and
checkpoints equal to what the leaves imply, and `temoin verify` exits 0.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import httpx

from ledger.config import Settings
from scripts.torture import Workload, audit, wait_for_acks
from tests.e2e import Served, admin_token, env_for, free_port, start_server

KILLS = 3
CLIENTS = 4
SHARED = [f"SHARED-{i}" for i in range(3)]
TENANT = "shop-1"  # admin_token()'s tenant


def _appender_tokens(base_url: str, admin: str, count: int) -> list[str]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin}"},
                      timeout=30) as c:
        return [c.post("/v1/keys", json={"role": "appender"}).json()["token"]
                for _ in range(count)]


def _check_receipts_over_http(served: Served, token: str, workload: Workload,
                              rng: random.Random) -> None:
    """A sample of receipts read back through GET /v1/log/entries/{index}."""
    receipts = [(tag, r) for o in workload.outcomes if o.acked and o.receipts
                for tag, r in zip(o.tags, o.receipts, strict=True)]
    with httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        for tag, receipt in rng.sample(receipts, min(25, len(receipts))):
            got = c.get(f"/v1/log/entries/{receipt['index']}")
            assert got.status_code == 200, got.text
            assert got.json()["leaf_hash"] == receipt["leaf_hash"]
            entry = json.loads(got.json()["entry"])
            assert entry["case"] == receipt["case"] and entry["case_seq"] == receipt["case_seq"]
            assert tag in got.json()["entry"]


def test_sigkill_under_load_loses_and_duplicates_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"seed {seed}")
    token = admin_token(settings)
    log = tmp_path / "serve.log"
    port = free_port()
    served = start_server(settings, log, port=port)
    started = time.monotonic()
    try:
        tokens = _appender_tokens(served.base_url, token, CLIENTS)
        workload = Workload([served.base_url], tokens, SHARED, seed=seed)
        workload.open_shared_cases()
        workload.start()
        for kill in range(KILLS):
            # Kill under load: only once appends flow, then at a random moment.
            assert wait_for_acks(workload, 25, timeout=60), f"no appends before kill {kill + 1}"
            time.sleep(rng.uniform(0, 0.6))
            served.kill()
            time.sleep(rng.uniform(0, 0.3))
            served = start_server(settings, log, port=port)
        assert wait_for_acks(workload, 25, timeout=60), "no appends after the last restart"
        hung = workload.stop()
        assert not hung, f"clients still waiting for an answer: {hung}"
        _check_receipts_over_http(served, token, workload, rng)
    finally:
        served.stop()
    elapsed = time.monotonic() - started

    stats = workload.stats
    assert not stats.bad_answers, stats.bad_answers[:5]
    result = audit(settings.database_url, settings.data_dir, workload, tenant=TENANT,
                   verify_env=env_for(settings))
    print(f"{KILLS} kills in {elapsed:.0f} s; answers {dict(stats.statuses)}; "
          f"connection errors {dict(stats.transport_errors)}; {result.summary()}")
    assert not result.failures(), "\n".join(result.failures()[:20])
    assert result.verify_ok, result.verify_output
    assert result.acked_requests == len(workload.outcomes)
    # It really tried: requests were cut by the kills and settled by retrying with their key.
    assert sum(o.unknown for o in workload.outcomes) > 0
    assert result.tree_size >= result.acked_events > 0
    assert "unhandled error" not in log.read_text(errors="replace")  # no 500 on restart
