"""Many logs in one database (issue 14 "Many logs"): the registry, each log's own keys and
checkpoints, and logs that append in parallel on PostgreSQL (one writer lock per log)."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from ledger.audit import verify_log
from ledger.config import Settings
from ledger.domain.access import trail_uuid
from ledger.logs import LogSet, LogSetError
from ledger.merkle import inclusion_plan
from ledger.signing import verify_checkpoint
from ledger.store.postgres import log_lock_key
from ledger.store.waits import is_wait_timeout
from projections.runner import ProjectionRunner
from tests.conftest import RawDB, pg_database
from tests.helpers import request

ORIGIN_2 = "test.example/shop-2"


@pytest.fixture
def logs(settings: Settings) -> Iterator[LogSet]:
    logset = LogSet(settings)
    yield logset
    logset.close()


def _open(logset: LogSet, tenant: str, n: int, prefix: str = "C") -> list[int]:
    """n cases of `tenant`, one append each; the leaf indices they got."""
    ledger = logset.for_tenant(tenant)
    return [ledger.append([request(f"{prefix}-{i}", "CaseOpened", tenant=tenant)])[0].index
            for i in range(n)]


def _verify_clean(logset: LogSet, log_id: int) -> int:
    ledger = logset.ledger(log_id)
    report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master)
    assert report.ok, report.anomalies
    journal = logset.journal(log_id)
    access = verify_log(journal.store, journal.key.verifier(), aggregate_id=trail_uuid)
    assert access.ok, access.anomalies
    return report.entries


def test_a_database_has_log_1_alone_until_a_log_is_created(logs: LogSet,
                                                          settings: Settings) -> None:
    [one] = logs.describe()
    assert (one.log_id, one.origin, one.created_at, one.tenants, one.size) == (
        1, "test.example/log", None, [], 0)
    assert one.verifier_key == logs.main.key.verifier_key
    assert logs.log_of("any-tenant") == 1
    assert not logs.main.store.shares_tables()


def test_a_new_log_has_its_own_keys_checkpoints_and_indices(logs: LogSet,
                                                            settings: Settings) -> None:
    assert _open(logs, "shop-1", 3) == [0, 1, 2]
    log2 = logs.create(ORIGIN_2, ["shop-2", "shop-3"])
    assert log2.store.log_id == 2 and log2.origin == ORIGIN_2
    # Its own key files, owner-only, in the data folder's logs/2/.
    folder = settings.data_dir / "logs" / "2"
    for name in ("log.key", "access.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert log2.key.verifier_key != logs.main.key.verifier_key
    assert log2.key.name == ORIGIN_2

    # Dense indices per log: log 2 starts at 0 while log 1 goes on from 3.
    assert _open(logs, "shop-2", 4, "D") == [0, 1, 2, 3]
    assert _open(logs, "shop-3", 1, "E") == [4]
    assert _open(logs, "shop-1", 2, "F") == [3, 4]
    assert (logs.main.tree_size(), log2.tree_size()) == (5, 5)
    assert [logs.log_of(t) for t in ("shop-1", "shop-2", "shop-3", "new")] == [1, 2, 2, 1]
    # A case of shop-2 is not in log 1, and its leaf is log 2's.
    entry = log2.store.leaf(0)
    assert entry is not None and entry.entry is not None and b'"shop-2"' in entry.entry
    assert logs.main.store.leaf(0).entry != entry.entry  # type: ignore[union-attr]

    # Each log signs its own checkpoints with its own key; roots differ.
    cp1, cp2 = logs.main.sign_checkpoint(), log2.sign_checkpoint()
    assert cp2.note.startswith(ORIGIN_2.encode() + b"\n5\n")
    verify_checkpoint(cp2.note, log2.key.verifier(), origin=ORIGIN_2)
    verify_checkpoint(cp1.note, logs.main.key.verifier(), origin="test.example/log")
    assert cp1.root != cp2.root
    # Its own signer state, beside its key: log 1's is not touched by log 2's signing.
    assert (folder / "log.state").exists() and (settings.data_dir / "log.state").exists()
    assert ORIGIN_2 not in (settings.data_dir / "log.state").read_text()
    proof = log2.store.proof(inclusion_plan(2, 5))
    assert proof  # nodes of log 2, found under its own log id

    # Each log's access journal is its own log too.
    logs.journal(2).record(tenant="shop-2", case="D-0", who="k", role="auditor",
                           action="read_case")
    assert logs.journal(2).store.tree_size() == 1 and logs.journal(1).store.tree_size() == 0

    # Reopened from the database alone: the same registry, the same keys.
    again = LogSet(settings)
    try:
        assert [(i.log_id, i.origin, i.tenants, i.size) for i in again.describe()] == [
            (1, "test.example/log", [], 5), (2, ORIGIN_2, ["shop-2", "shop-3"], 5)]
        assert again.ledger(2).key.verifier_key == log2.key.verifier_key
        # Every log verifies clean on its own: the vault and events tables they share hold
        # the other log's rows, which are not this log's anomalies.
        assert again.main.store.shares_tables()
        assert _verify_clean(again, 1) == 5 and _verify_clean(again, 2) == 5
    finally:
        again.close()


def test_what_a_new_log_refuses(logs: LogSet, settings: Settings) -> None:
    _open(logs, "has-cases", 1)
    ProjectionRunner(logs.main.store).catch_up()  # what `temoin logs create` does first
    logs.main.store.insert_api_key("kid", "hash", "appender", "has-key", "[]", "now")
    logs.create(ORIGIN_2, ["shop-2"])
    for origin, tenants, why in [
        ("test.example/log", [], "taken"),
        (ORIGIN_2, ["x"], "taken"),
        ("test.example/log/access", [], "taken"),
        ("bad origin", [], "invalid origin"),
        ("test.example/shop-3", ["shop-2"], "already has its log"),
        ("test.example/shop-3", ["has-cases"], "already has API keys or cases"),
        ("test.example/shop-3", ["has-key"], "already has API keys or cases"),
        ("test.example/shop-3", ["a", "a"], "named twice"),
    ]:
        with pytest.raises(LogSetError, match=why):
            logs.create(origin, tenants)
    assert [i.log_id for i in logs.describe()] == [1, 2]
    assert not (settings.data_dir / "logs" / "3").exists()


@pytest.mark.postgres
def test_two_logs_commit_in_parallel_on_postgresql(tmp_path: Path) -> None:
    """Appenders of two logs in one database at once (threads of one process and a second
    process): each log verifies on its own with dense indices; and a log whose writer lock is
    held by another session does not hold the other log's appends."""
    with pg_database() as url:
        settings = Settings(database_url=url, data_dir=tmp_path / "data",
                            origin="test.example/log", lock_timeout=2.0, pool_size=8)
        logs = LogSet(settings)
        try:
            logs.create(ORIGIN_2, ["shop-2"])
            errors: list[BaseException] = []

            def appender(tenant: str, worker: int) -> None:
                try:
                    ledger = logs.for_tenant(tenant)
                    for i in range(25):
                        ledger.append([request(f"P{worker}-{i}", "CaseOpened", tenant=tenant)])
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=appender, args=(t, w))
                       for w in range(4) for t in ("shop-1", "shop-2")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors
            for log_id in (1, 2):
                size = logs.ledger(log_id).tree_size()
                assert size == 100
                raw = RawDB(url).query(
                    "SELECT min(idx), max(idx), count(*) FROM cases_leaves WHERE log_id = %s",
                    (log_id,))
                assert raw == [(0, 99, 100)]
                logs.ledger(log_id).sign_checkpoint()
                assert _verify_clean(logs, log_id) == 100

            # Log 1's writer lock held elsewhere: log 2 still appends at once, log 1 waits
            # the lock timeout and fails with nothing written.
            family, one = log_lock_key("cases", 1)
            with psycopg.connect(url) as other:
                other.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (family, one))
                started = time.monotonic()
                logs.for_tenant("shop-2").append([request("L2", "CaseOpened", tenant="shop-2")])
                assert time.monotonic() - started < 1.0
                with pytest.raises(Exception) as caught:
                    logs.for_tenant("shop-1").append(
                        [request("L1", "CaseOpened", tenant="shop-1")])
                assert is_wait_timeout(caught.value) or "busy" in str(caught.value).lower()
                other.rollback()
            assert (logs.ledger(1).tree_size(), logs.ledger(2).tree_size()) == (100, 101)
        finally:
            logs.close()


def test_settings_of_another_log_keep_the_vault_and_move_the_keys(tmp_path: Path) -> None:
    base = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", data_dir=tmp_path / "d")
    other = base.for_log(7, "x.example/log")
    assert other.key_path == tmp_path / "d" / "logs" / "7" / "log.key"
    assert other.access_key_path == tmp_path / "d" / "logs" / "7" / "access.key"
    assert other.vault_key_path == base.vault_key_path
    assert other.persistence_env()["TEMOIN_LOG_ID"] == "7"
    assert "TEMOIN_LOG_ID" not in base.persistence_env()
    assert replace(other, log_id=1).key_path == base.key_path
