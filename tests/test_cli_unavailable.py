"""The command line when the database is down or busy: one sentence on stderr, exit status 75
(EX_TEMPFAIL: run it again later), never a traceback. Real subprocesses: a PostgreSQL URL on a
port where nothing listens, and a real SQLite file whose write lock another process holds."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.config import Settings
from ledger.ledger import Ledger
from scripts.cli import EX_TEMPFAIL
from tests.e2e import free_port, temoin
from tests.helpers import request


@pytest.mark.parametrize("command", [("verify",), ("cases",), ("checkpoint",),
                                     ("logs", "list")])
def test_a_database_that_is_down_is_one_sentence(tmp_path: Path,
                                                  command: tuple[str, ...]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/temoin"
    settings = replace(Settings.from_env({}), database_url=url, data_dir=tmp_path / "data")
    done = temoin(settings, *command, check=False, TEMOIN_PG_CONNECT_TIMEOUT="1")
    assert done.returncode == EX_TEMPFAIL, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("temoin: the database is unavailable")
    assert "check that the database of TEMOIN_DATABASE_URL is up and reachable" in line


def test_a_database_that_stays_locked_is_busy_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "data" / "temoin.db"
    settings = replace(Settings.from_env({}), database_url=f"sqlite:///{path}",
                       data_dir=tmp_path / "data")
    ledger = Ledger(settings)
    try:
        ledger.append([request("U-1", "CaseOpened")])
    finally:
        ledger.close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's writer, never letting go
        done = temoin(settings, "checkpoint", check=False, TEMOIN_LOCK_TIMEOUT="0.5")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == EX_TEMPFAIL, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("temoin: the database is busy"), line
    # Once the lock is gone, the same command works.
    assert temoin(settings, "checkpoint").returncode == 0
