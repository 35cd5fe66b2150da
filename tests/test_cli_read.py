"""The reading commands and the access journal, through the real command line entry point."""

from __future__ import annotations

import json

import pytest

from ledger.access import AccessJournal
from ledger.audit import verify_log
from ledger.config import Settings
from ledger.domain.access import trail_uuid
from ledger.ledger import Ledger
from scripts.cli import main
from scripts.demo import SCENARIOS, TENANT, load_demo
from tests.conftest import RawDB


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TEMOIN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TEMOIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TEMOIN_LOG_ORIGIN", settings.origin)
    return settings


def test_demo_loads_every_event_type_once(env: Settings,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "loaded 6 cases" in first
    assert main(["demo"]) == 0
    assert "already loaded" in capsys.readouterr().out
    ledger = Ledger(env)
    try:
        types = {e.entry.type for case in SCENARIOS for e in ledger.case_entries(TENANT, case)}
    finally:
        ledger.close()
    from ledger.events.types import EVENT_TYPES

    assert types == set(EVENT_TYPES)
    assert main(["verify"]) == 0


def test_replay_and_report(env: Settings, capsys: pytest.CaptureFixture[str],
                           tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger(env)
    try:
        load_demo(ledger)
    finally:
        ledger.close()
    capsys.readouterr()
    assert main(["replay", "DEMO-LRE-OTP-002", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert [e["type"] for e in view["entries"]][:3] == ["CaseOpened", "LetterSent",
                                                       "RecipientNotified"]
    first = view["entries"][0]["index"]
    assert main(["replay", "DEMO-LRE-OTP-002", "--size", str(first + 2), "--json"]) == 0
    older = json.loads(capsys.readouterr().out)
    assert [e["index"] for e in older["entries"]] == [first, first + 1]
    assert main(["replay", "DEMO-WITHDRAWAL-001", "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    clock = next(line for line in printed.splitlines() if "Withdrawal period" in line)
    # The last day and its end in Paris time, the same instant in UTC, and the articles.
    assert "MET" in clock and "last day 20" in clock
    assert "ends 23:59:59 Europe/Paris = 20" in clock and "(C. consom. L221-18, L221-19)" in clock
    assert main(["replay", "DEMO-LRE-OTP-002", "--size", "100000"]) == 2
    assert "outside the log" in capsys.readouterr().err
    assert main(["replay", "NO-SUCH-CASE"]) == 2
    assert main(["report", "DEMO-DELIVERY-004", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] in ("OK", "WARNING")
    assert report["summary"]["ko"] == 0
    assert main(["projections", "rebuild"]) == 0
    assert "rebuilt" in capsys.readouterr().out


def test_access_journal_is_a_verifiable_second_log(settings: Settings, raw_db: RawDB) -> None:
    journal = AccessJournal(settings)
    ledger = Ledger(settings)
    try:
        indices = [journal.record(tenant="t", case=c, who="key_x", role="auditor",
                                  action="read_report") for c in ("A", "B", "A")]
        assert indices == [0, 1, 2]
        rows = journal.journal("t", "A")
        assert [(r["index"], r["action"], r["who"]) for r in rows] == [
            (0, "read_report", "key_x"), (2, "read_report", "key_x")]
        assert ledger.tree_size() == 0  # reading never grows the case log
        journal.sign_checkpoint()
        report = verify_log(journal.store, journal.key.verifier(), aggregate_id=trail_uuid)
        assert report.ok and report.entries == 3
        assert journal.key.name == "test.example/log/access"
        raw_db.execute("UPDATE access_leaves SET hash = ? WHERE idx = 1", (b"\x01" * 32,))
        bad = verify_log(journal.store, journal.key.verifier(), aggregate_id=trail_uuid)
        assert any(str(a).startswith("index 1:") for a in bad.anomalies)
        with pytest.raises(ValueError, match="unknown access action"):
            journal.record(tenant="t", case="A", who="k", role="r", action="delete")
    finally:
        journal.close()
        ledger.close()
