"""Over HTTP, the server serves every log (issue 14 "Many logs"): two tenants on two logs
append, read their cases, case lists, entries, proofs, bundles and checkpoints at the same time,
each from its own log only (its origin, its key, its sizes), and neither sees the other's
cases."""

from __future__ import annotations

import base64
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ledger.config import Settings
from ledger.entry import parse_entry
from ledger.events.examples import EXAMPLES
from ledger.logs import LogSet
from ledger.merkle.verify import verify_inclusion
from ledger.signing import Verifier, verify_checkpoint
from tests.append_load import AppendLoad, check_log
from tests.e2e import admin_token, serving, start_server, temoin
from tests.helpers import request
from tests.test_stop import STOP_WITHIN
from verifier.bundle import verify_bundle
from verifier.bundle_trust import TrustOptions

ONE, TWO = "test.example/log", "test.example/shop-2"


def _opened(case: str) -> dict[str, object]:
    body = dict(EXAMPLES["CaseOpened"])
    body["data"] = {**body["data"], "order_ref": case}  # type: ignore[dict-item]
    return body


def _journal_tenants(logs: LogSet, log_id: int) -> set[str]:
    store = logs.journal(log_id).store
    return {parse_entry(bytes(raw)).tenant
            for *_, raw in store.iter_leaf_tuples(0, store.tree_size()) if raw is not None}


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"})


def _append(url: str, token: str, cases: list[str]) -> list[int]:
    with _client(url, token) as c:
        out = []
        for case in cases:
            r = c.post(f"/v1/cases/{case}/events", json=_opened(case))
            assert r.status_code == 201, r.text
            out.append(r.json()["index"])
        return out


def test_two_tenants_on_two_logs(settings: Settings, tmp_path: Path) -> None:
    logs = LogSet(settings)
    try:
        key_two = logs.create(TWO, ["shop-2"]).key.verifier_key
        key_one = logs.main.key.verifier_key
    finally:
        logs.close()
    a, b = admin_token(settings, "shop-1"), admin_token(settings, "shop-2")
    with serving(settings, tmp_path / "serve.log") as served:
        url = served.base_url
        # Both logs at once: each has its own writer, and its own leaf indices from 0.
        with ThreadPoolExecutor(2) as pool:
            on_one = pool.submit(_append, url, a, [f"A-{i}" for i in range(6)])
            on_two = pool.submit(_append, url, b, [f"B-{i}" for i in range(3)])
            assert sorted(on_one.result()) == list(range(6))
            assert sorted(on_two.result()) == list(range(3))
        with _client(url, a) as ca, _client(url, b) as cb:
            # Scope: another log's case does not exist for the caller (API.md: 404).
            assert cb.get("/v1/cases/A-0").status_code == 404
            assert cb.get("/v1/cases/A-0/entries").status_code == 404
            assert ca.get("/v1/cases/B-0").status_code == 404
            assert cb.get("/v1/cases/A-0/bundle").status_code == 404
            summary = cb.get("/v1/cases/B-1")
            assert summary.status_code == 200 and summary.json()["tenant"] == "shop-2"
            entries = cb.get("/v1/cases/B-1/entries").json()
            assert f'"log":"{TWO}"' in entries[0]["entry"]
            # The same index in each log is each tenant's own entry.
            assert '"shop-2"' in cb.get("/v1/log/entries/0").json()["entry"]
            assert '"shop-1"' in ca.get("/v1/log/entries/0").json()["entry"]
            assert cb.get("/v1/log/entries/5").status_code == 404  # only in log 1
            # Keys and checkpoints: each log's origin, key and size.
            assert ca.get("/v1/log/key").text.strip() == key_one
            assert cb.get("/v1/log/key").text.strip() == key_two
            # GET may lag appends by up to a second (API.md); a POST signs now.
            signed = cb.post("/v1/log/checkpoint")
            assert signed.status_code in (200, 201) and signed.text.startswith(f"{TWO}\n3\n")
            assert ca.post("/v1/log/checkpoint").text.startswith(f"{ONE}\n6\n")
            note_two = cb.get("/v1/log/checkpoint").text
            assert ca.get("/v1/log/checkpoint").text.startswith(f"{ONE}\n6\n")
            assert note_two.startswith(f"{TWO}\n3\n"), note_two
            assert verify_checkpoint(note_two.encode(), Verifier.parse(key_two)).size == 3
            sizes = [c["size"] for c in cb.get("/v1/log/checkpoints").json()]
            assert sizes[-1] == 3 and max(sizes) == 3
            # A proof of log 2 checks against log 2's root.
            proof = cb.get("/v1/log/proofs/inclusion", params={"index": 1, "size": 3}).json()
            root = base64.b64decode(note_two.split("\n")[2])
            verify_inclusion(1, 3, bytes.fromhex(proof["leaf_hash"]),
                             [bytes.fromhex(h) for h in proof["proof"]], root)
            assert cb.get("/v1/log/proofs/consistency",
                          params={"from": 4, "to": 6}).status_code == 422  # beyond log 2
            assert cb.get("/v1/cases/B-1/timeline").status_code == 200
            report = cb.get("/v1/cases/B-1/report").json()
            assert report["identification"]["log"] == TWO
            assert report["identification"]["verifier_key"] == key_two
            assert report["scope"]["case"] == "B-1" and report["scope"]["tree_size"] == 3
            bundle = cb.get("/v1/cases/B-1/bundle")
            assert bundle.status_code == 200, bundle.text
            # Each log's case list, from its own projections (schema version 3): the server's
            # projection follower keeps every log's current.
            listed = cb.get("/v1/cases")
            assert listed.status_code == 200, listed.text
            assert [i["case"] for i in listed.json()["items"]] == ["B-0", "B-1", "B-2"]
            assert {i["status"] for i in listed.json()["items"]} == {"open"}
            listed = ca.get("/v1/cases")
            assert listed.status_code == 200, listed.text
            assert [i["case"] for i in listed.json()["items"]] == [f"A-{i}" for i in range(6)]
            # Appended now, listed now: the list waits for its own log's follower.
            _append(url, b, ["B-3"])
            assert [i["case"] for i in cb.get("/v1/cases", params={"q": "b-3"}).json()[
                "items"]] == ["B-3"]
            assert ca.get("/v1/cases", params={"q": "b-"}).json()["items"] == []
    assert verify_bundle(bundle.content, trusted_key=key_two).ok
    assert not verify_bundle(bundle.content, trusted_key=key_one).ok
    logs = LogSet(settings)
    try:
        assert (logs.ledger(1).tree_size(), logs.ledger(2).tree_size()) == (6, 4)
        # Tenant B's reads are recorded in log 2's access journal, and only there.
        assert _journal_tenants(logs, 2) == {"shop-2"}
        assert "shop-2" not in _journal_tenants(logs, 1)
    finally:
        logs.close()
    whole = temoin(settings, "verify", check=False)
    assert whole.returncode == 0, whole.stdout + whole.stderr


@pytest.mark.serial  # a stop must end within 5 s under load: alone (tests/conftest.py)
def test_a_stop_under_load_on_two_logs_loses_no_acknowledged_append(
    settings: Settings, tmp_path: Path
) -> None:
    """As tests/test_stop.py, with two logs' sequencers and checkpointers to stop: SIGTERM to
    the group while both tenants append; every 2xx is in its tenant's log, nothing else is."""
    logs = LogSet(settings)
    try:
        logs.create(TWO, ["shop-2"])
    finally:
        logs.close()
    a, b = admin_token(settings, "shop-1"), admin_token(settings, "shop-2")
    out = tmp_path / "serve.log"
    served = start_server(settings, out, args=["--workers", "1"], new_session=True)
    loads = [AppendLoad(served.base_url, a, clients=3, seed=1),
             AppendLoad(served.base_url, b, clients=3, seed=2)]
    try:
        for load in loads:
            load.start()
        for load in loads:
            assert load.wait_for_acks(20), out.read_text()[-2000:]
        os.killpg(served.process.pid, signal.SIGTERM)
        served.process.wait(timeout=STOP_WITHIN)
    finally:
        hung = [name for load in loads for name in load.stop()]
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait(timeout=30)
    text = out.read_text(errors="replace")
    assert served.process.returncode in (0, -signal.SIGTERM), text[-2000:]
    assert not hung and "Traceback" not in text, text[-3000:]
    for load, log_settings in zip(loads, [settings, settings.for_log(2, TWO)], strict=True):
        assert all(a.status == 503 for a in load.answers if not a.acked and a.status)
        found = check_log(log_settings, list(load.answers))
        assert not found.problems, "\n".join(found.problems[:20])
        assert found.acknowledged >= 20 and not found.stored_unanswered
    whole = temoin(settings, "verify", check=False)
    assert whole.returncode == 0, whole.stdout + whole.stderr


def _metric_lines(text: str, name: str) -> dict[str, float]:
    """`name{labels} value` lines of a Prometheus text: labels -> value."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name):].rsplit(" ", 1)
            out[labels] = float(value)
    return out


def test_each_log_is_timestamped_counted_and_healthy(settings: Settings, tmp_path: Path) -> None:
    """Log 2's checkpoints (and its access journal's) get their own RFC 3161 tokens, which its
    bundles carry; /metrics has each log's tree size and checkpoint age; /healthz each log."""
    import io
    import time
    import zipfile

    from scripts.local_tsa import running as local_tsa

    logs = LogSet(settings)
    try:
        key_two = logs.create(TWO, ["shop-2"]).key.verifier_key
    finally:
        logs.close()
    a, b = admin_token(settings, "shop-1"), admin_token(settings, "shop-2")
    with local_tsa(tmp_path / "tsa") as tsa, serving(
            settings, tmp_path / "serve.log", TEMOIN_TSA_URLS=tsa.url,
            TEMOIN_TSA_ROOTS=str(tsa.roots), TEMOIN_TSA_INTERVAL="0.1") as served:
        url = served.base_url
        _append(url, a, ["A-0", "A-1"])
        _append(url, b, ["B-0", "B-1", "B-2"])
        with _client(url, a) as ca, _client(url, b) as cb:
            assert ca.post("/v1/log/checkpoint").text.startswith(f"{ONE}\n2\n")
            assert cb.post("/v1/log/checkpoint").text.startswith(f"{TWO}\n3\n")
            deadline = time.monotonic() + 20
            while True:
                pages = [c.get("/v1/log/checkpoints", params={"after": -1}).json()
                         for c in (ca, cb)]
                if all(cp["timestamps"] for page in pages for cp in page):
                    break
                assert time.monotonic() < deadline, pages
                time.sleep(0.1)
            # Log 2's checkpoints carry tokens over log 2's notes, not log 1's.
            assert pages[1][-1]["size"] == 3 and pages[1][-1]["note"].startswith(f"{TWO}\n")
            bundle = cb.get("/v1/cases/B-1/bundle")
            assert bundle.status_code == 200, bundle.text
            names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
            assert "timestamps/3-1.tsr" in names, names
            health = httpx.get(url + "/healthz").json()
            assert health["tree_size"] == 2
            assert health["logs"] == {"1": {"status": "ok", "tree_size": 2, "origin": ONE},
                                      "2": {"status": "ok", "tree_size": 3, "origin": TWO}}
            text = httpx.get(url + "/metrics").text
        roots = tsa.roots.read_bytes()
    assert _metric_lines(text, "temoin_tree_size") == {'{log="1"}': 2.0, '{log="2"}': 3.0}
    assert set(_metric_lines(text, "temoin_checkpoint_age_seconds")) == {'{log="1"}',
                                                                         '{log="2"}'}
    pending = _metric_lines(text, "temoin_tsa_pending_age_seconds")
    assert {k.split("log=")[1] for k in pending} == {'"log"}', '"access"}', '"log-2"}',
                                                     '"access-2"}'}
    checked = verify_bundle(bundle.content, trusted_key=key_two,
                            trust=TrustOptions(tsa_roots=roots))
    assert checked.ok, checked


def test_each_log_is_witnessed(settings: Settings, tmp_path: Path) -> None:
    """A witness that knows log 2 (its origin and key, and its access journal's) cosigns log
    2's checkpoints: served by log 2's GET /v1/log/checkpoint and carried by its bundles;
    /healthz and /metrics show log 2's witnessing as `log-2` and `access-2`."""
    import io
    import re
    import time
    import zipfile

    from ledger.bundle_format import COSIGNED
    from ledger.cosignature import verify_cosignature
    from ledger.signing import LogKey
    from tests.witness_proc import make_witness, running_witness

    logs = LogSet(settings)
    try:
        one = logs.main
        two = logs.create(TWO, ["shop-2"])
        journal_keys = {o: LogKey.load_or_create(s.access_key_path, f"{o}/access").verifier_key
                        for o, s in ((ONE, one.settings), (TWO, two.settings))}
        trusted = {ONE: one.key.verifier_key, TWO: two.key.verifier_key,
                   f"{ONE}/access": journal_keys[ONE], f"{TWO}/access": journal_keys[TWO]}
    finally:
        logs.close()
    w_vkey = make_witness(tmp_path / "w", "w.test/witness", trusted)
    b = admin_token(settings, "shop-2")
    with running_witness(tmp_path / "w", tmp_path / "w.log") as w, serving(
            settings, tmp_path / "serve.log", TEMOIN_WITNESSES=f"{w.url} {w_vkey}",
            TEMOIN_WITNESS_QUORUM="1", TEMOIN_WITNESS_MAX_BACKOFF="1",
            TEMOIN_WITNESS_TIMEOUT="2") as served, _client(served.base_url, b) as cb:
        _append(served.base_url, b, ["B-0", "B-1", "B-2"])
        deadline = time.monotonic() + 30

        def state(label: str) -> dict[str, object]:
            return dict(cb.get("/healthz").json()["details"]["witnessing"].get(label) or {})

        while (state("log-2").get("witnessed_size") or 0) < 3:  # type: ignore[operator]
            assert time.monotonic() < deadline, cb.get("/healthz").json()
            time.sleep(0.1)
        note = cb.get("/v1/log/checkpoint").content
        assert note.startswith(f"{TWO}\n3\n".encode()), note
        lines = note.decode().split("\n\n", 1)[1].splitlines(keepends=True)
        assert lines[0].startswith(f"\u2014 {TWO} ") and lines[1].startswith("\u2014 w.test/")
        body = note.decode().split("\n\n", 1)[0].encode() + b"\n"
        assert abs(verify_cosignature(lines[1], body, w_vkey) - time.time()) < 120
        bundle = cb.get("/v1/cases/B-1/bundle")
        assert bundle.status_code == 200, bundle.text
        names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
        assert COSIGNED in names, names
        cosigned = zipfile.ZipFile(io.BytesIO(bundle.content)).read(COSIGNED).decode()
        assert cosigned.startswith(f"{TWO}\n3\n") and "\u2014 w.test/witness " in cosigned
        # Reading a case appends to log 2's access journal, witnessed as `access-2`.
        assert cb.get("/v1/cases/B-0/timeline").status_code == 200
        while (state("access-2").get("witnessed_size") or 0) < 1:  # type: ignore[operator]
            assert time.monotonic() < deadline, cb.get("/healthz").json()
            time.sleep(0.1)
        metrics = cb.get("/metrics").text
    assert re.search(r'temoin_witnessed_size\{log="log-2"\} [1-9]', metrics), metrics
    assert 'temoin_witness_up{log="log-2",witness="w.test/witness"} 1' in metrics


def test_a_log_no_tenant_used_is_timestamped_from_the_start(
        settings: Settings, tmp_path: Path) -> None:
    """Every log is started with the server, not on its tenants' first request: the checkpoint
    `temoin checkpoint` signs for log 2 while none of its tenants has sent a request gets its
    RFC 3161 token (and its access journal's checkpoints theirs). Read from the database, not
    over HTTP as a tenant of log 2, which would start the log."""
    import time

    from api.timestamper import KIND
    from scripts.local_tsa import running as local_tsa

    logs = LogSet(settings)
    try:
        logs.create(TWO, ["shop-2"])
    finally:
        logs.close()
    with local_tsa(tmp_path / "tsa") as tsa, serving(
            settings, tmp_path / "serve.log", TEMOIN_TSA_URLS=tsa.url,
            TEMOIN_TSA_ROOTS=str(tsa.roots), TEMOIN_TSA_INTERVAL="0.1") as served:
        logs = LogSet(settings)
        try:
            logs.ledger(2).append([request(f"B-{i}", "CaseOpened", tenant="shop-2")
                                   for i in range(2)])
            signed = temoin(settings, "checkpoint").stdout
            assert f"{TWO}\n2\n" in signed, signed
            stores = {"log 2": logs.ledger(2).store, "its access journal": logs.journal(2).store}
            deadline = time.monotonic() + 20
            for what, store in stores.items():
                while lacking := store.checkpoints_lacking(KIND, tsa.url, 10):
                    assert time.monotonic() < deadline, f"{what}: no token for sizes {lacking}"
                    time.sleep(0.1)
            latest = stores["log 2"].latest_checkpoint()
            assert latest is not None and latest.size == 2
            assert len(stores["log 2"].attestations(2, KIND)) == 1
        finally:
            logs.close()
        health = httpx.get(served.base_url + "/healthz").json()
        assert health["logs"]["2"] == {"status": "ok", "tree_size": 2, "origin": TWO}, health
        # A log registered while the server runs is started by its next look (2 s), with no
        # request of its tenants either; its size-0 checkpoint is time-stamped.
        temoin(settings, "logs", "create", "test.example/shop-3", "--tenant", "shop-3")
        deadline = time.monotonic() + 20
        while "3" not in (httpx.get(served.base_url + "/healthz").json().get("logs") or {}):
            assert time.monotonic() < deadline, "log 3 was not started"
            time.sleep(0.1)
        pending = httpx.get(served.base_url + "/metrics").text
        assert 'log="log-3"' in pending and 'log="access-3"' in pending


def test_a_log_that_cannot_be_opened_does_not_stop_the_others(
        settings: Settings, tmp_path: Path) -> None:
    """Started with the server, a log whose key file went missing after it signed is logged
    and skipped: log 1's tenants are served, log 2's get 503 `log-not-served`."""
    logs = LogSet(settings)
    try:
        key_path = logs.create(TWO, ["shop-2"]).settings.key_path
    finally:
        logs.close()
    temoin(settings, "checkpoint")  # log 2 has signed: its key may not be created again
    a, b = admin_token(settings, "shop-1"), admin_token(settings, "shop-2")
    key_path.unlink()
    with serving(settings, tmp_path / "serve.log") as served:
        assert _append(served.base_url, a, ["A-0"]) == [0]
        with _client(served.base_url, b) as cb:
            refused = cb.get("/v1/log/checkpoint")
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"].endswith("log-not-served"), refused.json()
    assert "log 2 cannot be opened" in (tmp_path / "serve.log").read_text()


def test_the_follower_reads_through_the_stores_the_server_opened(settings: Settings) -> None:
    """`LogStores(opened=...)` (what the server's follower uses, api/app.py) reads each log the
    caller has open through the caller's store, not a connection pool of its own; a log it
    does not have open yet gets its own store, which it closes."""
    from ledger.log_stores import LogStores
    from projections.runner import EveryLogRunner

    logs = LogSet(settings)
    try:
        logs.create(TWO, ["shop-2"]).append(
            [request(f"B-{i}", "CaseOpened", tenant="shop-2") for i in range(2)])
        logs.create("test.example/shop-3", ["shop-3"])
        ledgers = {1: logs.main, 2: logs.ledger(2)}  # the server has started logs 1 and 2
        stores = LogStores(settings, main=logs.main.store,
                           opened=lambda i: ledgers[i].store if i in ledgers else None)
        try:
            assert stores.reader(2) is ledgers[2].store
            runner = EveryLogRunner(stores)
            assert runner.catch_up() == 2
            assert stores.opened_here() == [3]  # log 3 only, which "the server" has not open
            assert stores.reader(3).log_id == 3
            # Once the caller opens log 3 too (a log created while the server runs, then
            # started), its store replaces ours, which is closed: one pool per log again.
            ledgers[3] = logs.ledger(3)
            ledgers[3].append([request("C-0", "CaseOpened", tenant="shop-3")])
            assert runner.catch_up() == 1 and stores.opened_here() == []
            assert runner.runner(3).store is ledgers[3].store
        finally:
            stores.close()
        assert [r.case for r in ledgers[2].store.all_case_index()] == ["B-0", "B-1"]
        assert ledgers[2].tree_size() == 2  # still open: the caller's, not closed by stores
    finally:
        logs.close()
