"""Raw byte edits of the SQLite file (no SQL at all): verify and the report name the place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.merkle import NodeID
from projections.report import integrity_report
from scripts.cli import main
from tests.helpers import request


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'temoin.db'}",
                    data_dir=tmp_path / "data", origin="test.example/log")


def _db_path(settings: Settings) -> Path:
    return Path(settings.database_url[len("sqlite:///"):])


def _flip_in_file(path: Path, needle: bytes) -> None:
    # Fold the WAL into the main file first, so that the bytes we edit are the live ones.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) < 0, "needle must occur exactly once"
    data[at + len(needle) - 1] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipping_a_byte_of_an_entry_in_the_file(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = Ledger(sqlite_settings)
    ledger.append([request("F", "CaseOpened"), request("G", "CaseOpened")])
    ledger.append([request("F", "RefundIssued", data={
        "amount_cents": 4990, "currency": "EUR", "transaction_id": "REMB-UNIQUE-77"})])
    ledger.append([request("G", "OtpFailed")])
    ledger.sign_checkpoint()
    ledger.close()

    _flip_in_file(_db_path(sqlite_settings), b"REMB-UNIQUE-77")

    monkeypatch.setenv("TEMOIN_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("TEMOIN_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("TEMOIN_LOG_ORIGIN", sqlite_settings.origin)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("index 2: entry bytes hash to"), out
    assert len(out) == 2, out  # that one anomaly, then the summary

    ledger = Ledger(sqlite_settings)
    try:
        report = integrity_report(ledger, "shop-1", "F",
                                  checkpoint=ledger.store.latest_checkpoint())
    finally:
        ledger.close()
    assert report is not None and report["verdict"] == "KO"
    assert {c["place"] for c in report["checks"] if c["status"] == "KO"} == {"index 2"}


def test_flipping_a_byte_of_a_stored_node_in_the_file(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = Ledger(sqlite_settings)
    ledger.append([request(f"N{i}", "CaseOpened") for i in range(8)])
    node = ledger.store.read_nodes([NodeID(2, 1)])
    ledger.close()
    (value,) = node.values()
    _flip_in_file(_db_path(sqlite_settings), value)

    monkeypatch.setenv("TEMOIN_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("TEMOIN_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("TEMOIN_LOG_ORIGIN", sqlite_settings.origin)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("node 2/1: stored hash"), out
