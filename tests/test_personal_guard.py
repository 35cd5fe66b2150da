"""Personal data kept out of the hashed entry bytes (issue 12 item 6): free-text and id
fields refuse what looks like an e-mail address or a phone number, and a delivery's position
may go, erasable, in `personal`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.events.examples import EXAMPLES
from ledger.events.validate import ValidationError, validate_append

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, example, is_problem, new_case  # noqa: E402

pytest_plugins = ("tests.api_server",)


def _validate(type_: str, data: dict[str, Any] | None = None,
              personal: dict[str, Any] | None = None) -> Any:
    ex = EXAMPLES[type_]
    return validate_append(type_, ex["occurred_at"], data if data is not None else ex["data"],
                           personal if personal is not None else ex.get("personal"),
                           ex.get("evidence"), now=datetime.now(UTC))


def _errors(type_: str, **kw: Any) -> list[Any]:
    with pytest.raises(ValidationError) as info:
        _validate(type_, **kw)
    return info.value.errors


@pytest.mark.parametrize(("type_", "field", "value"), [
    ("CaseResolved", "outcome", "Remboursé, le client joignable au 06 12 34 56 78"),
    ("CaseResolved", "outcome", "contact: camille.dubois@example.fr"),
    ("CaseResolved", "outcome", "rappeler le 0612345678"),
    ("CaseResolved", "outcome", "call +33612345678 back"),
    ("SmsConfirmationReceived", "reply", "+33 6 12 34 56 78"),
    ("MediationReferred", "reference", "dossier-camille@example.fr"),
    ("CaseOpened", "order_ref", "0033612345678"),
    ("WithdrawalRequested", "items", ["Lampe", "écrire à a.b@c.fr"]),
])
def test_contact_data_in_hashed_fields_is_refused_naming_the_field(
    type_: str, field: str, value: Any
) -> None:
    data = dict(EXAMPLES[type_]["data"])
    data[field] = value
    errors = _errors(type_, data=data)
    assert len(errors) == 1
    assert errors[0].loc[:2] == ("data", field)
    assert errors[0].type == "personal_data"
    assert "send it in `personal`" in errors[0].msg
    for part in ("0612", "camille", "a.b@", "+336"):
        assert part not in errors[0].msg  # never echo the personal value


@pytest.mark.parametrize(("type_", "field", "value"), [
    ("CaseOpened", "order_ref", "CMD-2025-004817"),
    ("GoodsReturned", "parcel_id", "6A12345678901"),
    ("RefundIssued", "transaction_id", "4417123456789"),
    ("RefundIssued", "transaction_id", "0612345678"),  # an id, not free text
    ("SmsConfirmationReceived", "reply", "NON"),
    ("CaseResolved", "outcome", "Remboursement de 129,90 € le 30/11/2026, commande 2025-004817"),
])
def test_ordinary_ids_and_text_pass(type_: str, field: str, value: Any) -> None:
    data = dict(EXAMPLES[type_]["data"])
    data[field] = value
    assert _validate(type_, data=data).data[field] == value


def test_gps_position_in_personal_is_accepted_and_committed() -> None:
    data = {k: v for k, v in EXAMPLES["GpsScanRecorded"]["data"].items()
            if k not in ("latitude", "longitude")}
    event = _validate("GpsScanRecorded", data=data,
                      personal={"latitude": "45.7640430", "longitude": "4.8356590"})
    assert "latitude" not in event.data
    assert event.personal == {"latitude": "45.7640430", "longitude": "4.8356590"}


def test_gps_position_must_be_given_once_and_in_range() -> None:
    ex = EXAMPLES["GpsScanRecorded"]["data"]
    no_pos = {k: v for k, v in ex.items() if k not in ("latitude", "longitude")}
    missing = _errors("GpsScanRecorded", data=no_pos, personal={})
    assert {(e.loc, e.type) for e in missing} == {
        (("data", "latitude"), "missing"), (("data", "longitude"), "missing")}
    both = _errors("GpsScanRecorded", data=dict(ex),
                   personal={"latitude": "1", "longitude": "2"})
    assert {e.type for e in both} == {"duplicate"}
    split = _errors("GpsScanRecorded", data={**no_pos, "latitude": "1"},
                    personal={"longitude": "2"})
    assert [e.type for e in split] == ["not_allowed"]
    bad = _errors("GpsScanRecorded", data=no_pos,
                  personal={"latitude": "91.5", "longitude": "2"})
    assert [(e.loc, e.type) for e in bad] == [(("personal", "latitude"), "out_of_range")]
    assert "91.5" not in bad[0].msg


def test_http_refuses_contact_data_and_stores_nothing(api: ApiServer) -> None:
    case = new_case()
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).status_code == 201
        size = api.tree_size()
        response = c.post(f"/v1/cases/{case}/events", json=example(
            "CaseResolved", data={"outcome": "joignable au 06 12 34 56 78"}))
    is_problem(response, 422)
    [error] = response.json()["errors"]
    assert error["loc"][-1] == "outcome" and error["type"] == "personal_data"
    assert "send it in `personal`" in error["msg"]
    assert api.tree_size() == size


def test_http_position_in_personal_is_erasable(api: ApiServer) -> None:
    case = new_case()
    body = example("GpsScanRecorded")
    body["data"] = {k: v for k, v in body["data"].items() if k not in ("latitude", "longitude")}
    body["personal"] = {"latitude": "45.7640430", "longitude": "4.8356590"}
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).status_code == 201
        scan = c.post(f"/v1/cases/{case}/events", json=body)
        assert scan.status_code == 201, scan.text
        entries = c.get(f"/v1/cases/{case}/entries").json()
        assert "45.7640430" not in entries[-1]["entry"]
        openings = api.services.ledger.openings(api.tenant, case)
        assert openings[2]["latitude"].value == "45.7640430"
        erased = c.post(f"/v1/cases/{case}/events", json=example(
            "PersonalDataErased", data={"legal_basis": "retention-location",
                                        "fields": ["latitude", "longitude"]}))
        assert erased.status_code == 201, erased.text
    assert 2 not in api.services.ledger.openings(api.tenant, case)
