"""The legal clocks a dispute timeline derives (DESIGN §3, docs/CLOCKS.md), each met / missed /
running, a registered letter also unclaimed.

- withdrawal: 14 days from delivery for the customer to withdraw (C. consom. L221-18, L221-19);
- LRE acceptance: 15 days from the notification for the recipient to accept or refuse the
  registered letter (CPCE R53-3), one clock per letter;
- refund: 14 days from the withdrawal for the merchant to refund (L221-24);
- mediation: 1 year from the written complaint to refer to a consumer mediator (L612-2).

Days are counted as French law counts them (`projections.legal_calendar`): whole days in
Europe/Paris from the day after the event to the end of the last day, moved to the next working
day except for the LRE. Pure: entries and an `as_of` time in, clock states out; `as_of` is the
ledger's time of the tree size read, so a replay shows each clock as it stood then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from projections.legal_calendar import (
    PARIS,
    RULES,
    TIMEZONE,
    deadline,
    in_time,
    last_day,
    paris_date,
    unmoved_last_day,
    weekday_name,
)

DELIVERY = ("DeliveryPhotoTaken", "SignatureCaptured", "GpsScanRecorded")
COMPLAINT = ("NonConformityReported",)
COMPLAINT_REASONS = ("non_conformity", "non_delivery")
# Why a letter nobody claimed is not the sender's failure (the status would otherwise read so).
UNCLAIMED = ("the recipient did not claim the letter within the 15 days (CPCE R53-3); the letter "
             "is deemed presented to the recipient. This is not a failure of the sender.")


@dataclass(frozen=True, slots=True)
class Event:
    """What a clock needs of an entry."""

    index: int
    type: str
    at: datetime
    data: dict[str, Any]

    def ref(self) -> dict[str, Any]:
        return {"index": self.index, "type": self.type, "at": _iso(self.at)}


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _day(day: date) -> str:
    return f"{weekday_name(day)} {day.isoformat()}"


def _paris(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S %Z")


def _count(name: str, start: Event, d: date, last: date) -> str:
    """How the last day was counted, in one sentence a lawyer can check by hand."""
    rule = RULES[name]
    length = f"{rule.days} days" if rule.days else f"{rule.years} year"
    text = (f"Day 0 is {_day(d)}, the Paris date of {start.type} (index {start.index}); "
            f"{length} later is {_day(unmoved_last_day(name, d))}")
    if last != unmoved_last_day(name, d):
        text += (", not a working day (Saturday, Sunday or public holiday), so the last day "
                 f"moves to {_day(last)}")
    elif not rule.moves:
        text += ", the last day (calendar days: it never moves)"
    else:
        text += ", the last day"
    return text + f"; the period ends at its end, {_paris(deadline(last))}."


def _clock(name: str, label: str, start: Event, ends: Sequence[Event],
           unclaimed_by: Sequence[Event], as_of: datetime) -> dict[str, Any]:
    d = paris_date(start.at)
    last = last_day(name, d)
    met = next((e for e in ends if e.at >= start.at), None)
    by: Event | None
    if met is not None and in_time(met.at, last):
        status, by = "met", met
        why = f"Met: {met.type} at {_paris(met.at)}, on or before the last day."
    elif met is not None:
        status, by = "missed", met
        why = f"Missed: {met.type} at {_paris(met.at)}, after the last day."
    elif unclaimed_by:
        status, by = "unclaimed", unclaimed_by[0]
        why = f"Unclaimed ({by.type}): {UNCLAIMED}"
    elif not in_time(as_of, last) and name == "lre_acceptance":
        status, by = "unclaimed", None
        why = ("Unclaimed: no acceptance or refusal is recorded by the end of the last day; "
               f"{UNCLAIMED}")
    elif not in_time(as_of, last):
        status, by = "missed", None
        why = "Missed: nothing recorded met it by the end of the last day."
    else:
        status, by = "running", None
        why = f"Running: the last day had not ended at {_paris(as_of)}, the time of this reading."
    return {
        "name": name,
        "label": label,
        "started_by": start.ref(),
        "deadline": _iso(deadline(last)),
        "status": status,
        "met_by": by.ref() if by is not None else None,
        "last_day": last.isoformat(),
        "rule": RULES[name].articles,
        "timezone": TIMEZONE,
        "explanation": f"{_count(name, start, d, last)} {why}",
    }


def legal_clocks(events: Sequence[Event], as_of: datetime) -> list[dict[str, Any]]:
    by_type: dict[str, list[Event]] = {}
    for e in sorted(events, key=lambda e: (e.at, e.index)):
        by_type.setdefault(e.type, []).append(e)

    def of(*types: str) -> list[Event]:
        return sorted((e for t in types for e in by_type.get(t, [])), key=lambda e: (e.at, e.index))

    clocks = []
    delivery = of(*DELIVERY)
    if delivery:
        clocks.append(_clock(
            "withdrawal", "Withdrawal period: 14 days from delivery", delivery[0],
            of("WithdrawalRequested"), [], as_of))
    for notified in of("RecipientNotified"):
        letter = notified.data.get("letter_id")
        same = [e for e in of("DocumentRead", "LetterRefused") if e.data.get("letter_id") == letter]
        unclaimed = [e for e in of("LetterUnclaimed") if e.data.get("letter_id") == letter]
        clocks.append(_clock(
            "lre_acceptance", f"Registered letter {letter}: 15 days to accept or refuse",
            notified, same, unclaimed, as_of))
    withdrawals = of("WithdrawalRequested")
    if withdrawals:
        clocks.append(_clock(
            "refund", "Refund: 14 days from the withdrawal", withdrawals[0],
            of("RefundIssued"), [], as_of))
    complaint = of(*COMPLAINT) or [
        e for e in of("CaseOpened") if e.data.get("reason") in COMPLAINT_REASONS
    ]
    if complaint:
        clocks.append(_clock(
            "mediation", "Mediation: 1 year from the written complaint", complaint[0],
            of("MediationReferred"), [], as_of))
    return clocks
