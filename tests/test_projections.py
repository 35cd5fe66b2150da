"""Projections: incremental == rebuilt, replay as of a size, legal clocks, integrity report."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ledger.events.examples import example
from ledger.events.validate import validate_append
from ledger.ledger import AppendRequest, Ledger
from projections.clocks import Event, legal_clocks
from projections.report import integrity_report
from projections.runner import ProjectionRunner
from projections.views import SizeOutOfRangeError, UnknownCaseError, timeline
from tests.conftest import RawDB
from tests.helpers import request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _snapshot(ledger: Ledger) -> tuple[list, list]:
    return ledger.store.all_case_index(), ledger.store.all_timeline_rows()


def test_rebuilt_projection_equals_the_incremental_one(ledger: Ledger) -> None:
    rng = random.Random(7)
    runner = ProjectionRunner(ledger.store, chunk=257)
    cases = [f"K{i:03d}" for i in range(200)]
    ledger.append([request(c, "CaseOpened") for c in cases])
    closed: set[str] = set()
    types = ["OtpFailed", "RecipientNotified", "WithdrawalRequested", "RefundIssued"]
    for batch in range(40):
        reqs = []
        for _ in range(100):
            case = rng.choice(cases)
            if case in closed:
                continue
            if rng.random() < 0.01:
                reqs.append(request(case, "CaseClosed"))
                closed.add(case)
            else:
                reqs.append(request(case, rng.choice(types)))
        ledger.append(reqs)
        if batch % 3 == 0:
            runner.run_once()  # incremental, lagging behind on purpose
    runner.catch_up()
    incremental = _snapshot(ledger)
    assert len(incremental[1]) == ledger.tree_size() > 3000
    assert sum(row.entries for row in incremental[0]) == ledger.tree_size()
    assert {r.case for r in incremental[0] if r.status == "closed"} == closed
    applied = ProjectionRunner(ledger.store, chunk=1000).rebuild()
    assert applied == ledger.tree_size()
    assert _snapshot(ledger) == incremental


def test_projection_resumes_from_its_position_after_restart(settings) -> None:  # type: ignore[no-untyped-def]
    first = Ledger(settings)
    first.append([request("A", "CaseOpened"), request("A", "OtpFailed")])
    assert ProjectionRunner(first.store).catch_up() == 2
    first.append([request("A", "OtpVerified")])
    first.close()
    second = Ledger(settings)
    try:
        runner = ProjectionRunner(second.store)
        assert runner.position() == 2
        assert runner.catch_up() == 1
        assert second.store.case_index("shop-1", "A").entries == 3  # type: ignore[union-attr]
    finally:
        second.close()


class _RacedStore:
    """The store as a runner sees it when another runner (the projection process) applies a
    shorter chunk from the same position just before this one saves: that one read the log
    before the last entries were appended."""

    def __init__(self, store: object, rival: ProjectionRunner) -> None:
        self._store, self._rival, self.raced = store, rival, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def save_projection(self, *args: object) -> bool:
        if not self.raced:
            self.raced += 1
            assert self._rival.run_once() == 1  # the rival's chunk is one entry long
        return self._store.save_projection(*args)  # type: ignore[attr-defined]


def test_a_runner_that_loses_a_chunk_to_another_still_catches_up(ledger: Ledger) -> None:
    ledger.append([request("L", "CaseOpened"), request("L", "OtpFailed")])
    ledger.append([request("L", "CaseClosed")])
    raced = _RacedStore(ledger.store, ProjectionRunner(ledger.store, chunk=1))
    runner = ProjectionRunner(raced, chunk=100)  # type: ignore[arg-type]
    # Its save loses (the rival applied entry 0 first); it must go on from 1, not stop.
    assert runner.catch_up() == 2 and raced.raced == 1
    assert runner.position() == 3
    row = ledger.store.case_index("shop-1", "L")
    assert row is not None and row.status == "closed" and row.entries == 3


def test_replay_at_an_older_size_shows_exactly_the_entries_below_it(ledger: Ledger) -> None:
    ledger.append([request("R", "CaseOpened"), request("X", "CaseOpened")])
    ledger.append([request("R", "WithdrawalRequested")])
    ledger.append([request("R", "RefundIssued"), request("X", "OtpFailed")])
    for size in range(0, ledger.tree_size() + 1):
        if size == 0:
            with pytest.raises(UnknownCaseError):
                timeline(ledger, "shop-1", "R", size=size)
            continue
        view = timeline(ledger, "shop-1", "R", size=size)
        assert all(e["index"] < size for e in view["entries"])
        assert [e["index"] for e in view["entries"]] == [i for i in (0, 2, 3) if i < size]
        assert view["as_of_size"] == size
    with pytest.raises(SizeOutOfRangeError):
        timeline(ledger, "shop-1", "R", size=99)


def _ev(index: int, type_: str, days: float, **data: str) -> Event:
    return Event(index, type_, NOW + timedelta(days=days), data)


def test_legal_clocks() -> None:
    clocks = {c["name"]: c for c in legal_clocks(
        [_ev(0, "CaseOpened", 0, reason="non_delivery"), _ev(1, "DeliveryPhotoTaken", 1),
         _ev(2, "WithdrawalRequested", 10), _ev(3, "RefundIssued", 30),
         _ev(4, "RecipientNotified", 2, letter_id="L1"), _ev(5, "DocumentRead", 5, letter_id="L1"),
         _ev(6, "RecipientNotified", 3, letter_id="L2")],
        NOW + timedelta(days=40))}
    assert clocks["withdrawal"]["status"] == "met"
    # Delivered Monday 2 March (Paris): the last day is Monday 16 March, ending 23:59:59 CET.
    assert clocks["withdrawal"]["deadline"] == "2026-03-16T22:59:59Z"
    assert clocks["withdrawal"]["last_day"] == "2026-03-16"
    assert clocks["refund"]["status"] == "missed"  # 20 days after the withdrawal
    assert clocks["mediation"]["status"] == "running"
    lre = [c for c in legal_clocks(
        [_ev(4, "RecipientNotified", 2, letter_id="L1"), _ev(5, "DocumentRead", 5, letter_id="L1"),
         _ev(6, "RecipientNotified", 3, letter_id="L2"),
         _ev(7, "LetterUnclaimed", 18, letter_id="L2")], NOW + timedelta(days=4))]
    assert [(c["status"], c["met_by"]["index"]) for c in lre] == [("met", 5), ("unclaimed", 7)]
    running = legal_clocks([_ev(1, "GpsScanRecorded", 1)], NOW + timedelta(days=3))
    assert running[0]["status"] == "running" and running[0]["met_by"] is None
    late = legal_clocks([_ev(1, "GpsScanRecorded", 1)], NOW + timedelta(days=16))
    assert late[0]["status"] == "missed"


def _occurred(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_report_is_computed_and_finds_tampering(ledger: Ledger, raw_db: RawDB) -> None:
    now = datetime.now(UTC)
    reqs = []
    for t, days in (("CaseOpened", 0.1), ("WithdrawalRequested", 0.05), ("RefundIssued", 0.01)):
        body = example(t)
        reqs.append(AppendRequest("shop-1", "key-1", "REP", validate_append(
            t, _occurred(days), body["data"], body["personal"], body["evidence"], now=now)))
    ledger.append(reqs)
    report = integrity_report(ledger, "shop-1", "REP")
    assert report is not None
    assert report["verdict"] == "OK", [c for c in report["checks"] if c["status"] != "OK"]
    names = {(c["place"], c["name"]) for c in report["checks"]}
    assert ("index 1", "inclusion proof against checkpoint 3") in names
    assert any(c["section"] == "personal" for c in report["checks"])
    state = bytearray(raw_db.query(
        "SELECT state FROM cases_events WHERE originator_version = 2")[0][0])
    state[-3] ^= 1
    raw_db.execute("UPDATE cases_events SET state = ? WHERE originator_version = 2",
                   (bytes(state),))
    bad = integrity_report(ledger, "shop-1", "REP", checkpoint=ledger.store.latest_checkpoint())
    assert bad is not None and bad["verdict"] == "KO"
    ko = [c for c in bad["checks"] if c["status"] == "KO"]
    assert {c["place"] for c in ko} == {"index 1"}
    assert {c["name"] for c in ko} == {"leaf hash of the stored entry bytes",
                                       "inclusion proof against checkpoint 3"}
