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
    assert "loaded 7 cases" in first
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
    first, second = view["entries"][0]["index"], view["entries"][1]["index"]
    assert main(["replay", "DEMO-LRE-OTP-002", "--size", str(second + 1), "--json"]) == 0
    older = json.loads(capsys.readouterr().out)
    assert [e["index"] for e in older["entries"]] == [first, second]
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
        assert any(a.message().startswith("index 1:") for a in bad.anomalies)
        with pytest.raises(ValueError, match="unknown access action"):
            journal.record(tenant="t", case="A", who="k", role="r", action="delete")
    finally:
        journal.close()
        ledger.close()


def test_replay_at_a_size_before_the_case_began(settings: Settings) -> None:
    """`temoin replay CASE --size N` with N at or before the case's first entry: a message
    naming that entry and exit 2, never a traceback (a real `temoin` process)."""
    from tests.e2e import temoin

    ledger = Ledger(settings)
    try:
        load_demo(ledger)
        first = ledger.case_entries(TENANT, "DEMO-LRE-OTP-002")[0].index
    finally:
        ledger.close()
    assert first > 0  # the demo loads other cases before this one
    for size in (0, first):
        out = temoin(settings, "replay", "DEMO-LRE-OTP-002", "--size", str(size), check=False)
        assert out.returncode == 2, out.stdout + out.stderr
        assert out.stderr == (
            f"temoin: case 'DEMO-LRE-OTP-002' had no entries at tree size {size}: its first "
            f"entry is index {first}; use --size > {first}\n")
        assert out.stdout == ""
    out = temoin(settings, "replay", "DEMO-LRE-OTP-002", "--size", str(first + 1), "--json")
    assert [e["index"] for e in json.loads(out.stdout)["entries"]] == [first]
    # A tenant that has no such case: a message too, not a traceback.
    out = temoin(settings, "replay", "DEMO-LRE-OTP-002", "--size", str(first + 1),
                 "--tenant", "another-shop", check=False)
    assert (out.returncode, out.stderr) == (
        2, "temoin: no case 'DEMO-LRE-OTP-002' for tenant 'another-shop'\n")


def test_demo_tells_consistent_stories(settings: Settings) -> None:
    """Issue 13 item 7: dates from today, deadlines after sendings, media types that match the
    bytes, only some entries late, a met, a missed, a running and an unclaimed clock, and an
    erased case."""
    from datetime import UTC, datetime

    from projections.timeline import build_timeline
    from scripts.demo import SCENARIOS

    ledger = Ledger(settings)
    try:
        load_demo(ledger)
        year = datetime.now(UTC).year
        statuses, late, total = set(), 0, 0
        for case in SCENARIOS:
            items = ledger.case_entries(TENANT, case)
            view = build_timeline(items, log=ledger.origin, tenant=TENANT, case=case,
                                  as_of_size=ledger.tree_size(), as_of=datetime.now(UTC),
                                  generated_at=datetime.now(UTC))
            statuses |= {c["status"] for c in view["clocks"]}
            late += sum(1 for row in view["entries"] if row["late"])
            total += len(view["entries"])
            for item in items:
                entry = item.entry
                assert entry.occurred_at[:4] in (str(year), str(year - 1))
                assert "2025" not in str(entry.data) or year == 2025
                if entry.type == "FormalNoticeSent":
                    assert entry.data["deadline"] > entry.occurred_at[:10]
                for ev in entry.evidence:
                    head = ledger.files.read(ev["sha256"])[:8]
                    magic = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG",
                             "application/pdf": b"%PDF"}[ev["media_type"]]
                    assert head.startswith(magic), (case, ev)
        assert {"met", "missed", "running", "unclaimed"} <= statuses
        assert 0 < late < total / 4
        assert ledger.openings(TENANT, "DEMO-FORMAL-NOTICE-005") == {}
        assert ledger.openings(TENANT, "DEMO-WITHDRAWAL-001")
    finally:
        ledger.close()
