"""Legal clocks counted as French law counts them (docs/CLOCKS.md): the pure calendar, the clock
states, and the same table through `GET /v1/cases/{case}/timeline` on both backends.

Every expected date below was worked out by hand from the rules (day D = Paris date of the event,
D not counted, last day = D + n or the same date a year later, moved past Saturdays, Sundays and
public holidays except for the LRE), not read back from the code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from dateutil.easter import easter

from ledger.events.validate import validate_append
from ledger.ledger import AppendRequest, Ledger
from projections.clocks import Event, legal_clocks, parse_time
from projections.legal_calendar import (
    deadline,
    in_time,
    is_working_day,
    last_day,
    paris_date,
    public_holidays,
)
from projections.views import timeline

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    new_case,
    upload_example_evidence,
)

pytest_plugins = ("tests.api_server",)

# rule, the triggering event's occurred_at (UTC), expected last day, expected deadline (UTC).
CALENDAR = [
    # The issue's example: Saturday 23:25 UTC is Sunday 00:25 in Paris, so D = Sunday 22 Nov;
    # D + 14 = Sunday 6 Dec, moved to Monday 7 Dec; its end, 23:59:59 CET, is 22:59:59 UTC.
    ("withdrawal", "2026-11-21T23:25:29Z", "2026-12-07", "2026-12-07T22:59:59Z"),
    # Midnight in Paris (CET): one second either side of 23:00 UTC changes day D.
    ("withdrawal", "2026-11-18T22:59:59Z", "2026-12-02", "2026-12-02T22:59:59Z"),
    ("withdrawal", "2026-11-18T23:00:00Z", "2026-12-03", "2026-12-03T22:59:59Z"),
    # Across the last Sunday of March (29 March 2026): the deadline is in summer time
    # (23:59:59 CEST = 21:59:59 UTC). The last day is Good Friday, a holiday only in
    # Alsace-Moselle: it does not move.
    ("withdrawal", "2026-03-20T12:00:00Z", "2026-04-03", "2026-04-03T21:59:59Z"),
    # Midnight in Paris on the night the clocks go forward: Saturday 23:59:59 CET / Sunday 00:00.
    ("withdrawal", "2026-03-28T22:59:59Z", "2026-04-13", "2026-04-13T21:59:59Z"),
    ("withdrawal", "2026-03-28T23:00:00Z", "2026-04-13", "2026-04-13T21:59:59Z"),
    # Across the last Sunday of October (25 October 2026): back to winter time.
    ("withdrawal", "2026-10-20T12:00:00Z", "2026-11-03", "2026-11-03T22:59:59Z"),
    # Sunday 25 October 00:00 CEST is 22:00 UTC the day before: D = 25 Oct, + 14 = Sunday 8 Nov.
    ("withdrawal", "2026-10-24T22:00:00Z", "2026-11-09", "2026-11-09T22:59:59Z"),
    # Public holidays on the last day.
    ("withdrawal", "2026-03-23T10:00:00Z", "2026-04-07", "2026-04-07T21:59:59Z"),  # Easter Mon
    ("withdrawal", "2026-04-17T10:00:00Z", "2026-05-04", "2026-05-04T21:59:59Z"),  # 1 May Fri
    ("withdrawal", "2026-04-24T10:00:00Z", "2026-05-11", "2026-05-11T21:59:59Z"),  # 8 May Fri
    ("withdrawal", "2026-04-30T10:00:00Z", "2026-05-15", "2026-05-15T21:59:59Z"),  # Ascension
    ("withdrawal", "2026-05-11T10:00:00Z", "2026-05-26", "2026-05-26T21:59:59Z"),  # Whit Monday
    # Saturday, Sunday, then Whit Monday: three non-working days in a row.
    ("withdrawal", "2026-05-09T10:00:00Z", "2026-05-26", "2026-05-26T21:59:59Z"),
    ("withdrawal", "2026-06-30T10:00:00Z", "2026-07-15", "2026-07-15T21:59:59Z"),  # 14 July
    ("withdrawal", "2026-10-18T10:00:00Z", "2026-11-02", "2026-11-02T22:59:59Z"),  # 1 Nov Sun
    ("withdrawal", "2026-12-11T10:00:00Z", "2026-12-28", "2026-12-28T22:59:59Z"),  # 25 Dec Fri
    # 1 January 2028 is a Saturday: Sat (holiday), Sun, then Monday 3 January, a new year.
    ("withdrawal", "2027-12-18T10:00:00Z", "2028-01-03", "2028-01-03T22:59:59Z"),
    # 26 December is a holiday only in Alsace-Moselle: not applied.
    ("withdrawal", "2028-12-12T10:00:00Z", "2028-12-26", "2028-12-26T22:59:59Z"),
    # Refund: from the withdrawal (Saturday 1 Aug 00:30 CEST); D + 14 = Saturday 15 August.
    ("refund", "2026-07-31T22:30:00Z", "2026-08-17", "2026-08-17T21:59:59Z"),
    ("refund", "2026-12-07T22:59:59Z", "2026-12-21", "2026-12-21T22:59:59Z"),
    # LRE: D + 15 in calendar days, never moved (a holiday, a Sunday).
    ("lre_acceptance", "2026-11-21T23:25:29Z", "2026-12-07", "2026-12-07T22:59:59Z"),
    ("lre_acceptance", "2026-04-16T08:00:00Z", "2026-05-01", "2026-05-01T21:59:59Z"),
    ("lre_acceptance", "2026-11-14T10:00:00Z", "2026-11-29", "2026-11-29T22:59:59Z"),
    ("lre_acceptance", "2026-03-16T09:00:00Z", "2026-03-31", "2026-03-31T21:59:59Z"),
    # The night summer time ends: Saturday 23:59:59 CEST vs Sunday 00:30 CEST.
    ("lre_acceptance", "2026-10-24T21:59:59Z", "2026-11-08", "2026-11-08T22:59:59Z"),
    ("lre_acceptance", "2026-10-24T22:30:00Z", "2026-11-09", "2026-11-09T22:59:59Z"),
    # Mediation: the same date a year later; 29 February gives 28 February.
    ("mediation", "2028-02-29T10:00:00Z", "2029-02-28", "2029-02-28T22:59:59Z"),
    ("mediation", "2027-02-27T12:00:00Z", "2028-02-28", "2028-02-28T22:59:59Z"),  # Sunday
    ("mediation", "2025-11-11T09:00:00Z", "2026-11-12", "2026-11-12T22:59:59Z"),  # 11 Nov
    # Sunday 29 March 2026 01:30 CET (DST day) -> Monday 29 March 2027, Easter Monday.
    ("mediation", "2026-03-29T00:30:00Z", "2027-03-30", "2027-03-30T21:59:59Z"),
]


@pytest.mark.parametrize(("rule", "at", "want_day", "want_deadline"), CALENDAR)
def test_last_day_and_deadline(rule: str, at: str, want_day: str, want_deadline: str) -> None:
    last = last_day(rule, paris_date(parse_time(at)))
    assert last.isoformat() == want_day, f"{rule} from {at}: got {last}, want {want_day}"
    assert deadline(last).strftime("%Y-%m-%dT%H:%M:%SZ") == want_deadline
    assert deadline(last).tzinfo == UTC


def test_the_public_holidays_are_exactly_the_eleven_of_metropolitan_france() -> None:
    assert sorted(public_holidays(2026)) == [date.fromisoformat(d) for d in (
        "2026-01-01", "2026-04-06", "2026-05-01", "2026-05-08", "2026-05-14", "2026-05-25",
        "2026-07-14", "2026-08-15", "2026-11-01", "2026-11-11", "2026-12-25")]
    for year in range(2000, 2061):  # 2005-2007 included: Whit Monday stayed a holiday in law
        e = easter(year)
        fixed = {date(year, m, d) for m, d in ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15),
                                                (11, 1), (11, 11), (12, 25))}
        movable = {e + timedelta(days=n) for n in (1, 39, 50)}
        assert public_holidays(year) == fixed | movable, year
    # Alsace-Moselle's Good Friday and 26 December are not applied.
    assert is_working_day(date(2026, 4, 3)) and is_working_day(date(2028, 12, 26))
    assert not is_working_day(date(2026, 12, 5)) and not is_working_day(date(2026, 12, 6))


def test_an_act_is_in_time_up_to_the_last_second_of_the_last_day() -> None:
    last = date(2026, 12, 7)
    assert in_time(parse_time("2026-12-07T22:59:59Z"), last)
    assert in_time(parse_time("2026-12-07T22:59:59.999999Z"), last)  # the day ends at 24:00
    assert not in_time(parse_time("2026-12-07T23:00:00Z"), last)
    summer = date(2026, 7, 15)
    assert in_time(parse_time("2026-07-15T21:59:59Z"), summer)
    assert not in_time(parse_time("2026-07-15T22:00:00Z"), summer)


def _at(text: str) -> datetime:
    return parse_time(text)


def _clock(events: list[Event], as_of: str, name: str) -> dict[str, Any]:
    found = [c for c in legal_clocks(events, _at(as_of)) if c["name"] == name]
    assert len(found) == 1, found
    return found[0]


DELIVERED = Event(1, "DeliveryPhotoTaken", _at("2026-11-21T23:25:29Z"), {})


@pytest.mark.parametrize(("withdrawn", "as_of", "status"), [
    (None, "2026-12-03T00:00:00Z", "running"),
    (None, "2026-12-07T22:59:59Z", "running"),  # replay at the last second: still running
    (None, "2026-12-07T23:00:00Z", "missed"),
    ("2026-12-07T22:59:59Z", "2026-12-20T00:00:00Z", "met"),
    ("2026-12-07T23:00:00Z", "2026-12-20T00:00:00Z", "missed"),
])
def test_withdrawal_status_at_the_issue_example(
    withdrawn: str | None, as_of: str, status: str
) -> None:
    events = [DELIVERED]
    if withdrawn:
        events.append(Event(2, "WithdrawalRequested", _at(withdrawn), {}))
    clock = _clock(events, as_of, "withdrawal")
    assert clock["status"] == status
    assert clock["last_day"] == "2026-12-07"
    assert clock["deadline"] == "2026-12-07T22:59:59Z"
    assert clock["rule"] == "C. consom. L221-18, L221-19"
    assert clock["timezone"] == "Europe/Paris"
    assert (clock["met_by"] or {}).get("index") == (2 if withdrawn else None)
    assert "Sunday 2026-12-06" in clock["explanation"]
    assert "moves to Monday 2026-12-07" in clock["explanation"]


NOTIFIED = Event(1, "RecipientNotified", _at("2026-11-21T23:25:29Z"), {"letter_id": "L1"})


@pytest.mark.parametrize(("end", "at", "as_of", "status", "by"), [
    (None, None, "2026-12-07T22:59:59Z", "running", None),
    ("DocumentRead", "2026-12-07T22:59:59Z", "2026-12-08T00:00:00Z", "met", 2),
    ("LetterRefused", "2026-12-01T10:00:00Z", "2026-12-08T00:00:00Z", "met", 2),
    ("DocumentRead", "2026-12-07T23:00:00Z", "2026-12-08T00:00:00Z", "missed", 2),
    ("LetterUnclaimed", "2026-12-08T06:00:00Z", "2026-12-09T00:00:00Z", "unclaimed", 2),
    (None, None, "2026-12-07T23:00:00Z", "unclaimed", None),
])
def test_lre_status_and_an_unclaimed_letter_is_not_the_senders_failure(
    end: str | None, at: str | None, as_of: str, status: str, by: int | None
) -> None:
    events = [NOTIFIED]
    if end and at:
        events.append(Event(2, end, _at(at), {"letter_id": "L1"}))
    # Another letter's events never end this one's clock.
    events.append(Event(3, "DocumentRead", _at("2026-11-25T10:00:00Z"), {"letter_id": "L2"}))
    clock = _clock(events, as_of, "lre_acceptance")
    assert (clock["status"], (clock["met_by"] or {}).get("index")) == (status, by)
    assert (clock["last_day"], clock["deadline"]) == ("2026-12-07", "2026-12-07T22:59:59Z")
    assert clock["rule"] == "CPCE R53-3"
    if status == "unclaimed":
        assert "did not claim the letter within the 15 days" in clock["explanation"]
        assert "deemed presented" in clock["explanation"]
        assert "not a failure of the sender" in clock["explanation"]


def test_refund_and_mediation_rules_and_statuses() -> None:
    events = [
        Event(0, "CaseOpened", _at("2028-02-29T10:00:00Z"), {"reason": "non_conformity"}),
        Event(1, "WithdrawalRequested", _at("2026-07-31T22:30:00Z"), {}),
        Event(2, "RefundIssued", _at("2026-08-17T21:59:59Z"), {}),
    ]
    refund = _clock(events, "2026-09-01T00:00:00Z", "refund")
    assert (refund["status"], refund["last_day"]) == ("met", "2026-08-17")
    assert refund["rule"] == "C. consom. L221-24; Reg. 1182/71 art. 3(4)"
    late = _clock([*events[:2], Event(2, "RefundIssued", _at("2026-08-17T22:00:00Z"), {})],
                  "2026-09-01T00:00:00Z", "refund")
    assert late["status"] == "missed"
    mediation = _clock(events, "2029-02-28T22:59:59Z", "mediation")
    assert (mediation["status"], mediation["last_day"]) == ("running", "2029-02-28")
    assert mediation["rule"] == "C. consom. L612-2; Reg. 1182/71 art. 3(4)"
    assert _clock(events, "2029-02-28T23:00:00Z", "mediation")["status"] == "missed"


# ------------------------------------------------------------------------------ through HTTP
# One case per row, every date in the past so that the ledger accepts it and the statuses do
# not depend on the day the test runs: name, trigger (type, occurred_at), end (type, occurred_at)
# or None, expected last day, deadline, status.
HTTP_TABLE = [
    ("withdrawal", ("GpsScanRecorded", "2025-11-21T23:25:29Z"),
     ("WithdrawalRequested", "2025-12-08T22:59:59Z"), "2025-12-08", "2025-12-08T22:59:59Z", "met"),
    ("withdrawal", ("GpsScanRecorded", "2025-11-21T23:25:29Z"),
     ("WithdrawalRequested", "2025-12-08T23:00:00Z"), "2025-12-08", "2025-12-08T22:59:59Z",
     "missed"),
    ("withdrawal", ("DeliveryPhotoTaken", "2026-03-20T12:00:00Z"), None,
     "2026-04-03", "2026-04-03T21:59:59Z", "missed"),
    ("withdrawal", ("SignatureCaptured", "2026-05-09T10:00:00Z"),
     ("WithdrawalRequested", "2026-05-26T21:59:59Z"), "2026-05-26", "2026-05-26T21:59:59Z", "met"),
    ("refund", ("WithdrawalRequested", "2026-07-31T22:30:00Z"),
     ("RefundIssued", "2026-08-17T21:59:59Z"), "2026-08-17", "2026-08-17T21:59:59Z", "met"),
    ("lre_acceptance", ("RecipientNotified", "2026-03-16T09:00:00Z"),
     ("LetterUnclaimed", "2026-04-01T06:00:00Z"), "2026-03-31", "2026-03-31T21:59:59Z",
     "unclaimed"),
    ("lre_acceptance", ("RecipientNotified", "2026-04-16T08:00:00Z"),
     ("DocumentRead", "2026-05-01T21:59:59Z"), "2026-05-01", "2026-05-01T21:59:59Z", "met"),
    ("lre_acceptance", ("RecipientNotified", "2026-10-24T21:59:59Z"),
     ("LetterRefused", "2026-11-09T10:00:00Z"), "2026-11-08", "2026-11-08T22:59:59Z", "missed"),
    ("mediation", ("NonConformityReported", "2024-11-11T09:00:00Z"),
     ("MediationReferred", "2025-11-12T22:59:59Z"), "2025-11-12", "2025-11-12T22:59:59Z", "met"),
    ("mediation", ("CaseOpened", "2025-03-29T23:30:00Z"), None,
     "2026-03-30", "2026-03-30T21:59:59Z", "missed"),
]


def _body(type_: str, at: str, files: dict[str, str], letter: str,
          reason: str = "other") -> dict[str, Any]:
    body = example(type_, files, occurred_at=at)
    if "letter_id" in body["data"]:
        body["data"]["letter_id"] = letter
    if type_ == "LetterUnclaimed":
        body["data"]["notified_at"] = at
    if type_ == "CaseOpened":
        # "other" starts no clock; a complaint reason starts the mediation clock.
        body["data"]["reason"] = reason
    return body


@pytest.mark.parametrize(("name", "trigger", "end", "want_day", "want_deadline", "status"),
                         HTTP_TABLE)
def test_clock_table_through_the_timeline_endpoint(
    api: ApiServer, name: str, trigger: tuple[str, str], end: tuple[str, str] | None,
    want_day: str, want_deadline: str, status: str,
) -> None:
    case = new_case("CLK")
    letter = f"LRE-{case}"
    opens = trigger[0] == "CaseOpened"
    reason = "non_conformity" if opens else "other"
    steps = [("CaseOpened", trigger[1]), *([] if opens else [trigger]), *([end] if end else [])]
    with api.client() as c:
        files = upload_example_evidence(c)
        indices = []
        for type_, at in steps:
            r = c.post(f"/v1/cases/{case}/events",
                       json=_body(type_, at, files, letter, reason))
            assert r.status_code == 201, r.text
            indices.append(r.json()["index"])
        view = c.get(f"/v1/cases/{case}/timeline")
        assert view.status_code == 200, view.text
        clocks = [k for k in view.json()["clocks"] if k["name"] == name]
        assert len(clocks) == 1, view.json()["clocks"]
        clock = clocks[0]
        assert clock["last_day"] == want_day
        assert clock["deadline"] == want_deadline
        assert clock["timezone"] == "Europe/Paris"
        assert clock["rule"]
        assert clock["status"] == status
        assert clock["started_by"]["index"] == indices[0 if opens else 1]
        if end:
            assert clock["met_by"]["index"] == indices[-1]
            # Replayed as of the size before the ending act, at the ledger's time then (now,
            # long after the last day): nothing had met the clock yet.
            older = c.get(f"/v1/cases/{case}/timeline", params={"size": indices[-1]}).json()
            before = next(k for k in older["clocks"] if k["name"] == name)
            assert before["status"] == ("unclaimed" if name == "lre_acceptance" else "missed")
            assert before["met_by"] is None and before["last_day"] == want_day


def test_a_recent_delivery_runs_until_the_end_of_its_last_day(api: ApiServer) -> None:
    case = new_case("CLK")
    delivered = datetime.now(UTC) - timedelta(hours=1)
    at = delivered.strftime("%Y-%m-%dT%H:%M:%SZ")
    with api.client() as c:
        files = upload_example_evidence(c)
        for type_ in ("CaseOpened", "GpsScanRecorded"):
            r = c.post(f"/v1/cases/{case}/events", json=_body(type_, at, files, "L"))
            assert r.status_code == 201, r.text
        clock = next(k for k in c.get(f"/v1/cases/{case}/timeline").json()["clocks"]
                     if k["name"] == "withdrawal")
    assert clock["status"] == "running" and clock["met_by"] is None
    d = paris_date(delivered)
    last = date.fromisoformat(clock["last_day"])
    # At least D + 14, at most a few days more (a weekend and holidays in a row).
    assert timedelta(days=14) <= last - d <= timedelta(days=18)
    assert all(not is_working_day(d + timedelta(days=n)) for n in range(14, (last - d).days))
    assert is_working_day(last)


# ---------------------------------------------------------------- replay at the ledger's time
def _append(ledger: Ledger, case: str, type_: str, occurred: str, recorded: str) -> None:
    body = example(type_, occurred_at=occurred)
    if type_ == "CaseOpened":
        body["data"]["reason"] = "other"
    ledger.append([AppendRequest("shop-1", "key-1", case, validate_append(
        type_, occurred, body["data"], body["personal"], body["evidence"],
        now=_at(recorded)))], now=_at(recorded))


def test_replay_evaluates_the_clock_at_the_ledgers_time_at_that_size(ledger: Ledger) -> None:
    """Each tree size is read at the time the ledger reached it (the recorded_at of its last
    leaf): the withdrawal clock of the issue's example runs until 22:59:59 UTC on Monday 7
    December 2026 (23:59:59 in Paris), and is missed from the next second."""
    _append(ledger, "REPLAY", "CaseOpened", "2026-11-21T23:00:00Z", "2026-11-21T23:30:00Z")
    _append(ledger, "REPLAY", "GpsScanRecorded", "2026-11-21T23:25:29Z", "2026-11-21T23:30:01Z")
    # Entries of another case only move the ledger's time forward.
    for recorded in ("2026-12-07T22:59:59Z", "2026-12-07T23:00:00Z"):
        _append(ledger, f"OTHER-{recorded[11:13]}", "CaseOpened", recorded, recorded)
    states = []
    for size in (2, 3, 4):
        view = timeline(ledger, "shop-1", "REPLAY", size=size)
        clock = next(c for c in view["clocks"] if c["name"] == "withdrawal")
        states.append((view["as_of"], clock["status"], clock["last_day"]))
    assert states == [
        ("2026-11-21T23:30:01Z", "running", "2026-12-07"),
        ("2026-12-07T22:59:59Z", "running", "2026-12-07"),
        ("2026-12-07T23:00:00Z", "missed", "2026-12-07"),
    ]
