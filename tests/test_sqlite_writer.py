"""The SQLite writer owns its sqlite3 connection (file databases) instead of reaching into
eventsourcing's pooled connection; an in-memory database still writes through the pool's
one connection, the only one that sees it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.store.sqlite import MerkleSQLiteRecorder
from tests.helpers import request


def _recorder(ledger: Ledger) -> MerkleSQLiteRecorder:
    store = ledger.store
    assert isinstance(store, MerkleSQLiteRecorder)
    return store


def test_a_file_database_is_written_through_the_writers_own_connection(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db' / 'temoin.db'}",
                        data_dir=tmp_path / "data", origin="test.example/log")
    ledger = Ledger(settings)
    store = _recorder(ledger)
    ledger.append([request("A", "CaseOpened"), request("A", "OtpVerified")])
    writer = store._own_writer  # the recorder's own attribute, not eventsourcing's
    assert writer is not None
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ledger.append([request("A", "CaseClosed")])
    assert store._own_writer is writer  # one connection, kept
    ledger.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the application
        writer.execute("SELECT 1")
    reopened = Ledger(settings)
    try:
        case = reopened.case("shop-1", "A")
        assert case is not None and (case.version, case.status) == (3, "closed")
        assert reopened.tree_size() == 3
    finally:
        reopened.close()


def test_an_in_memory_database_is_written_through_the_pool(tmp_path: Path) -> None:
    name = f"file:mem-{uuid4().hex}?mode=memory&cache=shared"
    ledger = Ledger(Settings(database_url=f"sqlite:///{name}", data_dir=tmp_path / "data",
                             origin="test.example/log"))
    try:
        ledger.append([request("M", "CaseOpened"), request("M", "OtpVerified")])
        ledger.append([request("M", "RecipientNotified")])
        assert _recorder(ledger)._own_writer is None
        assert ledger.tree_size() == 3
        assert [e.entry.case_seq for e in ledger.case_entries("shop-1", "M")] == [1, 2, 3]
        case = ledger.case("shop-1", "M")
        assert case is not None and case.version == 3
    finally:
        ledger.close()
