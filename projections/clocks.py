"""The legal clocks a dispute timeline derives (DESIGN §3), each met / missed / running.

- withdrawal: delivery + 14 days for the customer to withdraw (Code de la consommation L221-18);
- LRE acceptance: notification + 15 days for the recipient to accept or refuse the registered
  letter (CPCE R53-3), one clock per letter;
- refund: withdrawal + 14 days for the merchant to refund (L221-24);
- mediation: written complaint + 1 year to refer to a consumer mediator (L612-2).

Pure: entries and an `as_of` time in, clock states out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DELIVERY = ("DeliveryPhotoTaken", "SignatureCaptured", "GpsScanRecorded")
COMPLAINT = ("NonConformityReported",)
COMPLAINT_REASONS = ("non_conformity", "non_delivery")


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


def _clock(name: str, label: str, start: Event, period: timedelta,
           ends: Sequence[Event], missed_by: Sequence[Event], as_of: datetime) -> dict[str, Any]:
    deadline = start.at + period
    met = next((e for e in ends if e.at >= start.at), None)
    if met is not None and met.at <= deadline:
        status, by = "met", met
    elif met is not None:
        status, by = "missed", met
    elif missed_by or as_of > deadline:
        status, by = "missed", (missed_by[0] if missed_by else None)
    else:
        status, by = "running", None
    return {
        "name": name,
        "label": label,
        "started_by": start.ref(),
        "deadline": _iso(deadline),
        "status": status,
        "met_by": by.ref() if by is not None else None,
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
            timedelta(days=14), of("WithdrawalRequested"), [], as_of))
    for notified in of("RecipientNotified"):
        letter = notified.data.get("letter_id")
        same = [e for e in of("DocumentRead", "LetterRefused") if e.data.get("letter_id") == letter]
        unclaimed = [e for e in of("LetterUnclaimed") if e.data.get("letter_id") == letter]
        clocks.append(_clock(
            "lre_acceptance", f"Registered letter {letter}: 15 days to accept or refuse",
            notified, timedelta(days=15), same, unclaimed, as_of))
    withdrawals = of("WithdrawalRequested")
    if withdrawals:
        clocks.append(_clock(
            "refund", "Refund: 14 days from the withdrawal", withdrawals[0],
            timedelta(days=14), of("RefundIssued"), [], as_of))
    complaint = of(*COMPLAINT) or [
        e for e in of("CaseOpened") if e.data.get("reason") in COMPLAINT_REASONS
    ]
    if complaint:
        clocks.append(_clock(
            "mediation", "Mediation: 1 year from the written complaint", complaint[0],
            timedelta(days=365), of("MediationReferred"), [], as_of))
    return clocks
