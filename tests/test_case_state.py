"""The ledger decides on its own `CaseState` and keeps its own case cache (issue 14, item 1):
the state it builds agrees with eventsourcing's replay of the `Case` aggregate, and its cache
never makes it decide on a case another process changed."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from ledger.domain import case_uuid
from ledger.errors import LegalHoldError
from ledger.ledger import AppendGroup, Ledger
from tests.helpers import request

HOLD = {"reference": "TJ-1", "reason": "assignation"}


def _history(ledger: Ledger, case: str) -> None:
    ledger.append([request(case, "CaseOpened"), request(case, "SmsConfirmationReceived")])
    ledger.append([request(case, "LegalHoldPlaced", data=HOLD)])
    ledger.append([request(case, "LegalHoldPlaced", data={**HOLD, "reference": "TJ-2"})])
    ledger.append([request(case, "LegalHoldReleased", data=HOLD)])
    ledger.append([request(case, "CaseClosed")])
    ledger.append([request(case, "PersonalDataErased", data={
        "legal_basis": "gdpr-art-17", "fields": ["phone"], "override_holds": ["TJ-2"]})])


def test_the_ledgers_case_is_eventsourcings_replay(ledger: Ledger) -> None:
    _history(ledger, "A")
    ours = ledger.case("shop-1", "A")
    assert ours is not None
    replayed = ledger.app.get_case(case_uuid("shop-1", "A")).capture()
    assert asdict(ours) == asdict(replayed)
    assert (ours.version, ours.status, ours.holds.keys()) == (7, "closed", {"TJ-2"})
    assert ours.field_erased["phone"][0] == 7 and ours.personal_seq["phone"] == 2
    # At an earlier tree size: the same as eventsourcing's replay at that version.
    earlier = ledger.case("shop-1", "A", size=3)
    assert earlier is not None
    at_3 = ledger.app.get_case(case_uuid("shop-1", "A"), version=3).capture()
    assert asdict(earlier) == asdict(at_3) and earlier.holds.keys() == {"TJ-1"}


def test_a_failed_group_leaves_the_case_as_it_was(ledger: Ledger) -> None:
    ledger.append([request("A", "CaseOpened")])
    results = ledger.commit([
        AppendGroup([request("A", "SmsConfirmationReceived")]),
        # Its hold goes on, then the release of an unknown hold fails the whole group.
        AppendGroup([request("A", "LegalHoldPlaced", data=HOLD),
                     request("A", "LegalHoldReleased", data={**HOLD, "reference": "X"})]),
        AppendGroup([request("A", "OtpVerified")]),
    ])
    assert [type(r).__name__ for r in results] == ["list", "LegalHoldError", "list"]
    assert [r.case_seq for g in (results[0], results[2]) for r in g] == [2, 3]  # type: ignore[union-attr]
    case = ledger.case("shop-1", "A")
    assert case is not None and (case.version, case.holds) == (3, {})
    assert asdict(case) == asdict(ledger.app.get_case(case_uuid("shop-1", "A")).capture())


def test_a_case_another_process_changed_is_decided_on_afresh(ledger: Ledger) -> None:
    ledger.append([request("A", "CaseOpened")])  # cached by this process
    other = Ledger(ledger.settings)
    try:
        other.append([request("A", "LegalHoldPlaced", data=HOLD)])
    finally:
        other.close()
    # This process's cached copy has no hold and is at case_seq 1: the refusal it would
    # give is checked again on the stored case, which holds TJ-1 at case_seq 2.
    receipts = ledger.append([request("A", "LegalHoldReleased", data=HOLD, expected_seq=2)])
    assert receipts[0].case_seq == 3
    # And the other way round: a hold placed elsewhere suspends an erasure here.
    other = Ledger(ledger.settings)
    try:
        other.append([request("A", "LegalHoldPlaced", data={**HOLD, "reference": "TJ-2"})])
    finally:
        other.close()
    with pytest.raises(LegalHoldError, match="TJ-2"):
        ledger.append([request("A", "PersonalDataErased",
                               data={"legal_basis": "gdpr-art-17"})])
