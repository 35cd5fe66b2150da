"""Validation of events before they are appended: API.md "Event types and their fields"."""

from __future__ import annotations

import json
import pickle
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.events import (
    EVENT_TYPES,
    FieldError,
    ValidationError,
    ValidEvent,
    format_rfc3339_utc,
    format_rfc3339_utc_minimal,
    json_schema,
    parse_rfc3339,
    validate_append,
    validate_case_id,
)
from ledger.events.clock import TimeFormatError, normalise_rfc3339
from ledger.events.examples import EXAMPLES, example
from ledger.events.fields import CASE_ID, CURRENCIES, ERROR_TYPES
from ledger.events.types import EVIDENCE_FIELD_NAMES, PERSONAL_FIELDS

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4

# API.md's table, transcribed independently of ledger/events/types.py:
# type -> (required data fields, optional data fields, personal fields)
API_TABLE: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "CaseOpened": (
        ("order_ref", "merchant_id", "reason"),
        ("amount_cents", "currency"),
        ("customer_name", "customer_email", "customer_phone", "delivery_address"),
    ),
    "LetterSent": (("letter_id", "provider", "document_sha256"), (), ("recipient_email",)),
    "RecipientNotified": (("letter_id", "channel"), (), ("destination",)),
    "OtpVerified": (("challenge_id", "channel", "attempt"), ("letter_id",), ("destination",)),
    "OtpFailed": (("challenge_id", "channel", "attempt", "reason"), (), ("destination",)),
    "DocumentRead": (("letter_id", "document_sha256"), (), ("reader_ip",)),
    "LetterRefused": (("letter_id",), (), ()),
    "LetterUnclaimed": (("letter_id", "notified_at"), (), ()),
    "DeliveryPhotoTaken": (("parcel_id", "carrier", "photo_sha256"), (), ()),
    "GpsScanRecorded": (
        ("parcel_id", "carrier", "latitude", "longitude", "accuracy_m", "scan_code"),
        (),
        (),
    ),
    "SmsConfirmationReceived": (("message_id", "reply", "body_sha256"), (), ("phone",)),
    "SignatureCaptured": (("parcel_id", "signature_sha256"), (), ("signer_name",)),
    "WithdrawalRequested": (("channel",), ("items",), ()),
    "WithdrawalAcknowledged": (("channel",), (), ()),
    "NonConformityReported": (("description_sha256",), ("photo_sha256",), ()),
    "FormalNoticeSent": (("letter_id", "deadline"), ("amount_cents",), ()),
    "RefundIssued": (("amount_cents", "currency", "transaction_id"), (), ()),
    "GoodsReturned": (("parcel_id", "carrier"), (), ()),
    "MediationReferred": (("mediator", "reference"), (), ()),
    "CaseResolved": (("outcome",), (), ()),
    "CaseClosed": ((), ("outcome",), ()),
    "PersonalDataErased": (("legal_basis",), ("fields",), ()),
}

# Beyond API.md's minimum (issue 12): a delivery's position may be sent, erasable, in
# `personal` instead of `data`; it is still required, in one of the two places.
EXTRA_PERSONAL = {"GpsScanRecorded": ("latitude", "longitude")}
REQUIRED_HERE_OR_PERSONAL = {("GpsScanRecorded", "latitude"), ("GpsScanRecorded", "longitude")}
# Optional fields and types added beyond API.md's minimum (issue 12: the archive's lifecycle).
EXTRA_OPTIONAL = {
    "CaseOpened": ("retention_class",),
    "PersonalDataErased": (
        "override_holds", "retention_class", "retention_run", "evidence_destroyed"
    ),
}
EXTRA_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "LegalHoldPlaced": (("reference", "reason"), (), ()),
    "LegalHoldReleased": (("reference",), ("reason",), ()),
    "RetentionClassSet": (("retention_class",), ("reason",), ()),
}
REQUIRED = [(t, f) for t, (req, _, _) in API_TABLE.items() for f in req]
OPTIONAL = [(t, f) for t, (_, opt, _) in API_TABLE.items() for f in opt]
DATA_FIELDS = [(t, f) for t, (req, opt, _) in API_TABLE.items() for f in (*req, *opt)]
PERSONAL = [(t, f) for t, (_, _, pers) in API_TABLE.items() for f in pers]
INT_FIELDS = {"amount_cents", "attempt", "accuracy_m"}
LIST_FIELDS = {"items", "fields"}


def call(event: dict[str, Any], **kwargs: Any) -> ValidEvent:
    return validate_append(
        event["type"],
        event["occurred_at"],
        event["data"],
        event.get("personal"),
        event.get("evidence"),
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


def errors_of(event: dict[str, Any], **kwargs: Any) -> list[FieldError]:
    with pytest.raises(ValidationError) as info:
        call(event, **kwargs)
    assert info.value.errors, "a ValidationError must carry at least one error"
    return info.value.errors


def one_error(event: dict[str, Any], **kwargs: Any) -> FieldError:
    errors = errors_of(event, **kwargs)
    assert len(errors) == 1, errors
    return errors[0]


def with_data(type_: str, **changes: Any) -> dict[str, Any]:
    event = example(type_)
    event["data"].update(changes)
    return event


# --- the table ------------------------------------------------------------------------------------


def test_event_types_follow_api_md_in_order() -> None:
    assert list(EVENT_TYPES) == [*API_TABLE, *EXTRA_TYPES]
    assert len(API_TABLE) == 22  # the brief said 21; API.md's table and DESIGN §3 list 22


@pytest.mark.parametrize("name", list(EXTRA_TYPES))
def test_each_lifecycle_type_has_its_fields(name: str) -> None:
    required, optional_, personal = EXTRA_TYPES[name]
    event_type = EVENT_TYPES[name]
    assert [f for f, spec in event_type.data.items() if spec.required] == list(required)
    assert [f for f, spec in event_type.data.items() if not spec.required] == list(optional_)
    assert event_type.personal == personal


@pytest.mark.parametrize("name", list(API_TABLE))
def test_each_type_has_the_fields_of_api_md(name: str) -> None:
    required, optional_, personal = API_TABLE[name]
    event_type = EVENT_TYPES[name]
    assert event_type.name == name
    relaxed = [f for f in required if (name, f) in REQUIRED_HERE_OR_PERSONAL]
    assert [f for f, spec in event_type.data.items() if spec.required] == [
        f for f in required if f not in relaxed
    ]
    assert [f for f, spec in event_type.data.items() if not spec.required] == [
        f for f in event_type.data if f in relaxed or f in optional_
        or f in EXTRA_OPTIONAL.get(name, ())
    ]
    assert event_type.personal == personal + EXTRA_PERSONAL.get(name, ())
    assert event_type.evidence_fields == tuple(
        f for f in (*required, *optional_) if f in EVIDENCE_FIELD_NAMES
    )
    assert event_type.description and "\n" not in event_type.description


def test_personal_fields_are_the_union_of_the_table() -> None:
    union = {f for _, _, personal in API_TABLE.values() for f in personal}
    union |= {f for extra in EXTRA_PERSONAL.values() for f in extra}
    assert set(PERSONAL_FIELDS) == union
    assert len(PERSONAL_FIELDS) == len(union)


def test_fingerprints_are_not_evidence_fields() -> None:
    assert {"document_sha256", "photo_sha256", "signature_sha256"} == EVIDENCE_FIELD_NAMES
    assert EVENT_TYPES["SmsConfirmationReceived"].evidence_fields == ()
    assert EVENT_TYPES["NonConformityReported"].evidence_fields == ("photo_sha256",)


def test_required_currencies_are_known() -> None:
    wanted = [
        "EUR",
        "USD",
        "GBP",
        "CHF",
        "SEK",
        "DKK",
        "NOK",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "JPY",
        "CAD",
        "AUD",
    ]
    assert set(wanted) <= CURRENCIES
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in CURRENCIES)
    assert not {"XXX", "XTS", "XAU", "HRK"} & CURRENCIES


# --- valid examples -------------------------------------------------------------------------------


def test_there_is_an_example_for_every_type() -> None:
    assert list(EXAMPLES) == list(EVENT_TYPES)
    for name, event in EXAMPLES.items():
        assert event["type"] == name
        assert set(event) == {"type", "occurred_at", "data", "personal", "evidence"}


@pytest.mark.parametrize("name", list(API_TABLE))
def test_example_is_valid(name: str) -> None:
    event = example(name)
    valid = call(event)
    assert valid.type == name
    assert valid.occurred_at == normalise_rfc3339(event["occurred_at"])
    assert valid.occurred_at.endswith("Z")
    expected_data = dict(event["data"])
    if "notified_at" in expected_data:
        expected_data["notified_at"] = normalise_rfc3339(expected_data["notified_at"])
    assert valid.data == expected_data
    assert valid.personal == event["personal"]
    assert valid.evidence == event["evidence"]
    # What comes back must be encodable as the canonical entry needs it: JSON, no floats.
    json.dumps(valid.data, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize("name", list(API_TABLE))
def test_example_uses_every_field_of_its_type(name: str) -> None:
    event = EXAMPLES[name]
    required, optional_, personal = API_TABLE[name]
    assert set(event["data"]) == {*required, *optional_}
    assert set(event["personal"]) == set(personal)


def test_personal_and_evidence_may_be_absent() -> None:
    event = example("CaseClosed")
    valid = validate_append(event["type"], event["occurred_at"], event["data"], now=NOW)
    assert valid.personal == {}
    assert valid.evidence == []


def test_result_does_not_share_the_callers_containers() -> None:
    event = example("WithdrawalRequested")
    valid = call(event)
    event["data"]["items"].append("Abat-jour")
    event["data"]["channel"] = "sms"
    assert valid.data == EXAMPLES["WithdrawalRequested"]["data"]


def test_result_order_does_not_depend_on_key_order() -> None:
    event = example("CaseOpened")
    shuffled = example("CaseOpened")
    shuffled["data"] = dict(reversed(shuffled["data"].items()))
    shuffled["personal"] = dict(reversed(shuffled["personal"].items()))
    assert list(call(event).data) == list(call(shuffled).data)
    assert list(call(event).personal) == list(call(shuffled).personal)


# --- missing and unknown fields -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "field"), REQUIRED)
def test_missing_required_field(name: str, field: str) -> None:
    event = example(name)
    del event["data"][field]
    error = one_error(event)
    assert error.loc == ("data", field)
    assert error.type == "missing"
    assert field in error.msg


@pytest.mark.parametrize(("name", "field"), OPTIONAL)
def test_optional_field_may_be_left_out(name: str, field: str) -> None:
    event = example(name)
    del event["data"][field]
    for reference in list(event["evidence"]):
        if reference["sha256"] not in event["data"].values():
            event["evidence"].remove(reference)
    assert field not in call(event).data


@pytest.mark.parametrize(("name", "field"), PERSONAL)
def test_personal_fields_are_optional(name: str, field: str) -> None:
    event = example(name)
    del event["personal"][field]
    assert field not in call(event).personal


@pytest.mark.parametrize("name", list(API_TABLE))
def test_unknown_data_field(name: str) -> None:
    error = one_error(with_data(name, colour="blue"))
    assert (error.loc, error.type) == (("data", "colour"), "unknown_field")
    assert "colour" in error.msg


def test_unknown_field_suggests_the_close_name() -> None:
    event = example("CaseOpened")
    event["data"]["order_reference"] = event["data"].pop("order_ref")
    errors = {e.loc: e for e in errors_of(event)}
    assert errors[("data", "order_ref")].type == "missing"
    assert "did you mean 'order_ref'" in errors[("data", "order_reference")].msg


def test_personal_field_sent_in_data_is_refused_and_pointed_to_personal() -> None:
    error = one_error(with_data("CaseOpened", customer_email="camille.dubois@example.fr"))
    assert (error.loc, error.type) == (("data", "customer_email"), "unknown_field")
    assert "personal" in error.msg
    # The message must not echo the personal value: errors are logged and returned.
    assert "camille" not in error.msg


def test_unknown_personal_field() -> None:
    event = example("LetterSent")
    event["personal"]["customer_name"] = "Camille Dubois"
    error = one_error(event)
    assert (error.loc, error.type) == (("personal", "customer_name"), "unknown_field")
    assert "recipient_email" in error.msg


def test_type_without_personal_fields_refuses_any() -> None:
    event = example("GpsScanRecorded")
    event["personal"] = {"phone": "+33612345678"}
    assert one_error(event).loc == ("personal", "phone")


@pytest.mark.parametrize(
    ("type_", "code"),
    [
        ("caseOpened", "unknown_type"),
        ("CaseReopened", "unknown_type"),
        ("", "unknown_type"),
        (None, "missing"),
        (1, "wrong_type"),
        (["CaseOpened"], "wrong_type"),
    ],
)
def test_bad_type(type_: Any, code: str) -> None:
    event = example("CaseOpened")
    event["type"] = type_
    error = one_error(event)
    assert (error.loc, error.type) == (("type",), code)


def test_unknown_type_suggests_the_close_name() -> None:
    event = example("CaseOpened")
    event["type"] = "caseOpened"
    assert "did you mean 'CaseOpened'" in one_error(event).msg


@pytest.mark.parametrize(
    ("data", "code"), [(None, "missing"), ([], "wrong_type"), ("x", "wrong_type")]
)
def test_data_must_be_an_object(data: Any, code: str) -> None:
    event = example("CaseClosed")
    event["data"] = data
    error = one_error(event)
    assert (error.loc, error.type) == (("data",), code)


@pytest.mark.parametrize("personal", [[], "Camille", 1, True])
def test_personal_must_be_an_object(personal: Any) -> None:
    event = example("CaseOpened")
    event["personal"] = personal
    error = one_error(event)
    assert (error.loc, error.type) == (("personal",), "wrong_type")


# --- JSON types -----------------------------------------------------------------------------------


def _wrong_values(field: str) -> list[Any]:
    junk: list[Any] = [True, False, 1.5, 0.0, float("nan"), None, {"value": 1}]
    if field in INT_FIELDS:
        junk += ["12", "1", 12.0, [12]]
    elif field in LIST_FIELDS:
        junk += ["customer_name", 3]
    else:
        junk += [12, 0, ["x"], []]
    return junk


@pytest.mark.parametrize(("name", "field"), DATA_FIELDS)
def test_wrong_json_types_are_refused(name: str, field: str) -> None:
    for value in _wrong_values(field):
        error = one_error(with_data(name, **{field: value}))
        assert (error.loc, error.type) == (("data", field), "wrong_type"), value


@pytest.mark.parametrize(("name", "field"), PERSONAL)
def test_personal_values_must_be_strings(name: str, field: str) -> None:
    for value in [None, True, 33612345678, 1.5, ["Camille"], {"first": "Camille"}]:
        event = example(name)
        event["personal"][field] = value
        error = one_error(event)
        assert (error.loc, error.type) == (("personal", field), "wrong_type"), value


@pytest.mark.parametrize(
    ("value", "index"), [(["ok", 1.5], 1), ([2.0], 0), (["ok", "ok", None], 2)]
)
def test_floats_and_nulls_inside_lists_are_refused(value: list[Any], index: int) -> None:
    error = one_error(with_data("WithdrawalRequested", items=value))
    assert (error.loc, error.type) == (("data", "items", index), "wrong_type")


def test_nested_junk_in_list_is_refused() -> None:
    error = one_error(with_data("PersonalDataErased", fields=[["customer_name"]]))
    assert error.loc == ("data", "fields", 0)


def test_every_bad_item_of_a_list_is_reported() -> None:
    errors = errors_of(with_data("WithdrawalRequested", items=["", "ok", 7, "x" * 1025]))
    assert [(e.loc, e.type) for e in errors] == [
        (("data", "items", 0), "empty"),
        (("data", "items", 2), "wrong_type"),
        (("data", "items", 3), "too_long"),
    ]


# --- ranges and formats ---------------------------------------------------------------------------

RANGE_CASES = [
    # (type, field, value, expected error type or None)
    ("GpsScanRecorded", "latitude", "90", None),
    ("GpsScanRecorded", "latitude", "-90", None),
    ("GpsScanRecorded", "latitude", "90.0000000000", None),
    ("GpsScanRecorded", "latitude", "-89.9999999999", None),
    ("GpsScanRecorded", "latitude", "0", None),
    ("GpsScanRecorded", "latitude", "-0.5", None),
    ("GpsScanRecorded", "latitude", "90.0000001", "out_of_range"),
    ("GpsScanRecorded", "latitude", "-90.0000001", "out_of_range"),
    ("GpsScanRecorded", "latitude", "91.5", "out_of_range"),
    ("GpsScanRecorded", "latitude", "91", "out_of_range"),
    ("GpsScanRecorded", "latitude", "-99.9", "out_of_range"),
    ("GpsScanRecorded", "latitude", "89.9999999999", None),
    ("GpsScanRecorded", "latitude", "180", "out_of_range"),
    ("GpsScanRecorded", "latitude", "45.12345678901", "bad_format"),
    ("GpsScanRecorded", "latitude", "045.5", "bad_format"),
    ("GpsScanRecorded", "latitude", "00", "bad_format"),
    ("GpsScanRecorded", "latitude", "4.5e1", "bad_format"),
    ("GpsScanRecorded", "latitude", "+45.5", "bad_format"),
    ("GpsScanRecorded", "latitude", " 45.5", "bad_format"),
    ("GpsScanRecorded", "latitude", "45.", "bad_format"),
    ("GpsScanRecorded", "latitude", ".5", "bad_format"),
    ("GpsScanRecorded", "latitude", "45,5", "bad_format"),
    ("GpsScanRecorded", "latitude", "1000", "bad_format"),
    ("GpsScanRecorded", "latitude", "٤٥", "bad_format"),
    ("GpsScanRecorded", "latitude", "", "bad_format"),
    ("GpsScanRecorded", "latitude", "NaN", "bad_format"),
    ("GpsScanRecorded", "longitude", "180", None),
    ("GpsScanRecorded", "longitude", "-180", None),
    ("GpsScanRecorded", "longitude", "179.9999999999", None),
    ("GpsScanRecorded", "longitude", "180.0000001", "out_of_range"),
    ("GpsScanRecorded", "longitude", "-180.0000001", "out_of_range"),
    ("GpsScanRecorded", "longitude", "999", "out_of_range"),
    ("GpsScanRecorded", "longitude", "181", "out_of_range"),
    ("GpsScanRecorded", "longitude", "-199.5", "out_of_range"),
    ("GpsScanRecorded", "longitude", "99.5", None),
    ("GpsScanRecorded", "longitude", "-5", None),
    ("GpsScanRecorded", "longitude", "0180", "bad_format"),
    ("GpsScanRecorded", "accuracy_m", 0, None),
    ("GpsScanRecorded", "accuracy_m", 10**7, None),
    ("GpsScanRecorded", "accuracy_m", -1, "out_of_range"),
    ("GpsScanRecorded", "accuracy_m", 10**7 + 1, "out_of_range"),
    ("CaseOpened", "amount_cents", 0, None),
    ("CaseOpened", "amount_cents", 10**12, None),
    ("CaseOpened", "amount_cents", -1, "out_of_range"),
    ("CaseOpened", "amount_cents", 10**12 + 1, "out_of_range"),
    pytest.param("CaseOpened", "amount_cents", 10**5000, "out_of_range", id="huge-amount"),
    ("RefundIssued", "amount_cents", 0, None),
    ("RefundIssued", "amount_cents", 10**12 + 1, "out_of_range"),
    ("FormalNoticeSent", "amount_cents", -1, "out_of_range"),
    ("OtpVerified", "attempt", 1, None),
    ("OtpVerified", "attempt", 1000, None),
    ("OtpVerified", "attempt", 0, "out_of_range"),
    ("OtpVerified", "attempt", -3, "out_of_range"),
    ("OtpFailed", "attempt", 1001, "out_of_range"),
    ("CaseOpened", "currency", "EUR", None),
    ("CaseOpened", "currency", "CHF", None),
    ("CaseOpened", "currency", "eur", "bad_format"),
    ("CaseOpened", "currency", "EURO", "bad_format"),
    ("CaseOpened", "currency", "€", "bad_format"),
    ("CaseOpened", "currency", "XXX", "not_allowed"),
    ("RefundIssued", "currency", "ABC", "not_allowed"),
    ("CaseOpened", "reason", "withdrawal", None),
    ("CaseOpened", "reason", "unpaid", None),
    ("CaseOpened", "reason", "Withdrawal", "not_allowed"),
    ("CaseOpened", "reason", "fraud", "not_allowed"),
    ("RecipientNotified", "channel", "sms", None),
    ("RecipientNotified", "channel", "letter", "not_allowed"),
    ("RecipientNotified", "channel", "web", "not_allowed"),
    ("OtpVerified", "channel", "voice", None),
    ("WithdrawalRequested", "channel", "letter", None),
    ("WithdrawalAcknowledged", "channel", "phone", None),
    ("WithdrawalAcknowledged", "channel", "fax", "not_allowed"),
    ("WithdrawalAcknowledged", "channel", "", "not_allowed"),
    ("FormalNoticeSent", "deadline", "2024-02-29", None),
    ("FormalNoticeSent", "deadline", "2025-02-29", "bad_format"),
    ("FormalNoticeSent", "deadline", "2025-02-30", "bad_format"),
    ("FormalNoticeSent", "deadline", "2025-13-01", "bad_format"),
    ("FormalNoticeSent", "deadline", "2025-3-25", "bad_format"),
    ("FormalNoticeSent", "deadline", "20250325", "bad_format"),
    ("FormalNoticeSent", "deadline", "2025-W13-2", "bad_format"),
    ("FormalNoticeSent", "deadline", "2025-03-25T00:00:00Z", "bad_format"),
    ("FormalNoticeSent", "deadline", "1969-12-31", "out_of_range"),
    ("SmsConfirmationReceived", "body_sha256", SHA_B, None),
    ("SmsConfirmationReceived", "body_sha256", SHA_B[:-1], "bad_format"),
    ("SmsConfirmationReceived", "body_sha256", SHA_B + "0", "bad_format"),
    ("SmsConfirmationReceived", "body_sha256", SHA_B.upper(), "bad_format"),
    ("SmsConfirmationReceived", "body_sha256", "g" * 64, "bad_format"),
    ("SmsConfirmationReceived", "body_sha256", "", "bad_format"),
    ("NonConformityReported", "description_sha256", "A" * 64, "bad_format"),
    ("LetterSent", "letter_id", "x" * 128, None),
    ("LetterSent", "letter_id", "x" * 129, "too_long"),
    ("LetterSent", "letter_id", "", "empty"),
    ("LetterSent", "letter_id", "LRE\n318", "bad_format"),
    ("LetterSent", "letter_id", "LRE\x00318", "bad_format"),
    ("LetterSent", "letter_id", "LRE\x7f318", "bad_format"),
    ("LetterSent", "letter_id", "LRE\t318", "bad_format"),
    ("LetterSent", "letter_id", "LRE\ud800318", "bad_format"),
    ("LetterSent", "provider", "AR24 — Lettre recommandée", None),
    ("OtpFailed", "reason", "expired", None),
    ("CaseResolved", "outcome", "é" * 1024, None),
    ("CaseResolved", "outcome", "é" * 1025, "too_long"),
    ("CaseResolved", "outcome", "Accord\r\ntrouvé", "bad_format"),
    ("CaseResolved", "outcome", "", "empty"),
    ("WithdrawalRequested", "items", [], None),
    ("WithdrawalRequested", "items", ["Lampe"] * 100, None),
    ("WithdrawalRequested", "items", ["Lampe"] * 101, "too_long"),
    ("WithdrawalRequested", "items", ["é" * 1024], None),
    ("WithdrawalRequested", "items", ["é" * 1025], "too_long"),
    ("WithdrawalRequested", "items", ["Lampe\nOpaline"], "bad_format"),
    ("PersonalDataErased", "fields", list(PERSONAL_FIELDS), None),
    ("PersonalDataErased", "fields", ["customer_name", "customer_name"], "duplicate"),
    ("PersonalDataErased", "fields", ["iban"], "not_allowed"),
    ("PersonalDataErased", "fields", ["customer_name"] * 33, "too_long"),
    ("LetterUnclaimed", "notified_at", "2025-03-03T08:13:02", "bad_format"),
    ("LetterUnclaimed", "notified_at", "2025-02-30T08:13:02Z", "bad_format"),
]


@pytest.mark.parametrize(("name", "field", "value", "code"), RANGE_CASES)
def test_value_rules(name: str, field: str, value: Any, code: str | None) -> None:
    event = with_data(name, **{field: value})
    if code is None:
        assert call(event).data[field] == value
    else:
        errors = errors_of(event)
        assert errors[0].loc[:2] == ("data", field)
        assert errors[0].type == code
        assert all(e.loc[:2] == ("data", field) for e in errors)
    # The published schema must draw the same border, except where JSON Schema cannot: dates and
    # times (calendar, year range) and lone surrogates.
    schema = json_schema(EVENT_TYPES[name])["data"]["properties"][field]
    surrogate = isinstance(value, str) and re.search("[\ud800-\udfff]", value) is not None
    beyond_schema = field in {"deadline", "notified_at"} or surrogate
    if code is None or not beyond_schema:
        assert schema_accepts(schema, value) == (code is None)


def test_message_says_what_was_expected_and_found() -> None:
    error = one_error(with_data("GpsScanRecorded", latitude="91.5"))
    assert error.msg == "latitude must be a decimal string between -90 and 90, got '91.5'"
    error = one_error(with_data("CaseOpened", amount_cents=True))
    assert error.msg == "amount_cents must be an integer, got true"
    error = one_error(with_data("CaseOpened", amount_cents=10**5000))
    assert "between 0 and 1000000000000" in error.msg and "bits" in error.msg


def test_long_values_are_cut_in_messages() -> None:
    error = one_error(with_data("LetterSent", letter_id="x" * 100_000))
    assert len(error.msg) < 200


# --- personal values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Camille Dubois", None),
        ("12 rue des Lilas\r\n69003 Lyon\tFrance", None),
        ("é" * 1024, None),
        ("é" * 1025, "too_long"),
        ("", "empty"),
        ("Camille\x00Dubois", "bad_format"),
        ("Camille\x1bDubois", "bad_format"),
        ("Camille\ud83dDubois", "bad_format"),
    ],
)
def test_personal_value_rules(value: str, code: str | None) -> None:
    event = example("CaseOpened")
    event["personal"]["delivery_address"] = value
    if code is None:
        assert call(event).personal["delivery_address"] == value
        return
    error = one_error(event)
    assert (error.loc, error.type) == (("personal", "delivery_address"), code)


def test_personal_values_are_never_quoted_in_messages() -> None:
    event = example("CaseOpened")
    event["personal"].update(customer_phone=33612345678, customer_name="Camille\x00Dubois")
    event["personal"]["customer_email"] = "c" * 2000 + "@example.fr"
    errors = errors_of(event)
    assert len(errors) == 3
    text = " ".join(e.msg for e in errors)
    assert "33612345678" not in text and "Camille" not in text and "ccc" not in text


def test_validation_error_survives_pickling() -> None:
    with pytest.raises(ValidationError) as info:
        validate_case_id("../x")
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.errors == info.value.errors
    assert str(copy) == str(info.value)


# --- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("2025-03-01T10:00:00+01:00", "2025-03-01T09:00:00Z"),
        ("2025-03-01T00:30:00+01:00", "2025-02-28T23:30:00Z"),
        ("2025-03-01T10:00:00-05:30", "2025-03-01T15:30:00Z"),
        ("2025-03-01T10:00:00-00:00", "2025-03-01T10:00:00Z"),
        ("2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z"),
        ("2025-03-01t10:00:00z", "2025-03-01T10:00:00Z"),
        ("2025-03-01T10:00:00.5Z", "2025-03-01T10:00:00.500000Z"),
        ("2025-03-01T10:00:00.500Z", "2025-03-01T10:00:00.500000Z"),
        ("2025-03-01T10:00:00.000Z", "2025-03-01T10:00:00Z"),
        ("2025-03-01T10:00:00.123456+02:00", "2025-03-01T08:00:00.123456Z"),
        ("2024-12-31T23:59:59.999999-01:00", "2025-01-01T00:59:59.999999Z"),
        ("2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
        ("2025-03-01T10:00:00+23:59", "2025-02-28T10:01:00Z"),
    ],
)
def test_occurred_at_is_normalised_to_utc(text: str, normalised: str) -> None:
    event = example("CaseClosed")
    event["occurred_at"] = text
    assert call(event).occurred_at == normalised


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("2025-03-01T10:00:00", "bad_format", "no time zone"),
        ("2025-03-01T10:00", "bad_format", "no time zone"),
        ("2025-03-01 10:00:00", "bad_format", "no time zone"),
        ("2025-03-01 10:00:00Z", "bad_format", "not of the form"),
        ("2025-03-01", "bad_format", "not of the form"),
        ("2025-03-01T10:00Z", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00+0100", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00+01", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00 Z", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00.Z", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00,5Z", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00UTC", "bad_format", "not of the form"),
        ("Sat, 01 Mar 2025 10:00:00 GMT", "bad_format", "not of the form"),
        ("1740823200", "bad_format", "not of the form"),
        ("", "bad_format", "not of the form"),
        ("２０２５-03-01T10:00:00Z", "bad_format", "not of the form"),
        ("2025-03-01T10:00:00.1234567Z", "bad_format", "6 fractional"),
        ("2025-02-30T10:00:00Z", "bad_format", "valid date"),
        ("2025-13-01T10:00:00Z", "bad_format", "valid date"),
        ("2025-03-01T24:00:00Z", "bad_format", "valid date"),
        ("2025-03-01T10:60:00Z", "bad_format", "valid date"),
        ("2025-03-01T23:59:60Z", "bad_format", "leap second"),
        ("2025-03-01T10:00:00+24:00", "bad_format", "offset"),
        ("2025-03-01T10:00:00+01:60", "bad_format", "offset"),
        ("1969-12-31T23:59:59Z", "out_of_range", "1970"),
        ("1970-01-01T00:30:00+01:00", "out_of_range", "1970"),
        ("0000-01-01T00:00:00Z", "bad_format", "valid date"),
        ("2030-01-01T00:00:00Z", "in_future", "5 minutes"),
        ("9999-12-31T23:59:59Z", "in_future", "5 minutes"),
        ("9999-12-31T23:00:00-02:00", "out_of_range", "9999"),
    ],
)
def test_bad_occurred_at(text: str, code: str, words: str) -> None:
    event = example("CaseClosed")
    event["occurred_at"] = text
    error = one_error(event)
    assert (error.loc, error.type) == (("occurred_at",), code)
    assert words in error.msg


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "missing"),
        (1740823200, "wrong_type"),
        (True, "wrong_type"),
        (1.5, "wrong_type"),
        (["2025-03-01T10:00:00Z"], "wrong_type"),
    ],
)
def test_occurred_at_must_be_a_string(value: Any, code: str) -> None:
    event = example("CaseClosed")
    event["occurred_at"] = value
    error = one_error(event)
    assert (error.loc, error.type) == (("occurred_at",), code)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("2025-06-01T12:05:00Z", True),
        ("2025-06-01T14:05:00+02:00", True),
        ("2025-06-01T12:04:59.999999Z", True),
        ("2025-06-01T12:05:00.000001Z", False),
        ("2025-06-01T12:05:01Z", False),
        ("2025-06-01T14:05:01+02:00", False),
        ("2020-01-01T00:00:00Z", True),  # late arrivals are facts, flagged later, not refused
    ],
)
def test_future_edge_is_five_minutes(text: str, accepted: bool) -> None:
    event = example("CaseClosed")
    event["occurred_at"] = text
    if accepted:
        call(event)
    else:
        assert one_error(event).type == "in_future"


def test_max_skew_is_configurable() -> None:
    event = example("CaseClosed")
    event["occurred_at"] = "2025-06-01T12:00:01Z"
    assert one_error(event, max_skew=timedelta(0)).type == "in_future"
    event["occurred_at"] = "2025-06-01T12:59:00Z"
    call(event, max_skew=timedelta(hours=1))


def test_now_may_be_in_any_zone() -> None:
    event = example("CaseClosed")
    event["occurred_at"] = "2025-06-01T12:05:00Z"
    paris = NOW.astimezone(timezone(timedelta(hours=2)))
    call(event, now=paris)
    event["occurred_at"] = "2025-06-01T12:05:01Z"
    assert one_error(event, now=paris).type == "in_future"


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        call(example("CaseClosed"), now=datetime(2025, 6, 1, 12, 0))


def test_notified_at_is_normalised() -> None:
    valid = call(example("LetterUnclaimed"))
    assert valid.data["notified_at"] == "2025-03-03T08:13:02Z"


def test_format_rfc3339_utc_always_has_microseconds() -> None:
    assert format_rfc3339_utc(NOW) == "2025-06-01T12:00:00.000000Z"
    paris = datetime(2025, 3, 1, 10, 0, 0, 42, tzinfo=timezone(timedelta(hours=1)))
    assert format_rfc3339_utc(paris) == "2025-03-01T09:00:00.000042Z"
    assert format_rfc3339_utc_minimal(paris) == "2025-03-01T09:00:00.000042Z"
    assert format_rfc3339_utc_minimal(NOW) == "2025-06-01T12:00:00Z"
    assert parse_rfc3339(format_rfc3339_utc(paris)) == paris
    with pytest.raises(TypeError):
        format_rfc3339_utc(datetime(2025, 6, 1))


def test_parse_rfc3339_range_edges() -> None:
    assert parse_rfc3339("9999-12-31T23:59:59.999999Z").year == 9999
    assert parse_rfc3339("1970-01-01T01:00:00+01:00") == datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(TimeFormatError):
        parse_rfc3339("9999-12-31T23:00:00-02:00")


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_rfc3339_round_trip(moment: datetime, offset_minutes: int) -> None:
    local = moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset_minutes)))
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = f"{local.replace(tzinfo=None).isoformat()}{sign}{hours:02d}:{minutes:02d}"
    assert parse_rfc3339(text) == moment.replace(tzinfo=UTC)
    assert parse_rfc3339(format_rfc3339_utc(local)) == local
    assert normalise_rfc3339(normalise_rfc3339(text)) == normalise_rfc3339(text)


# --- evidence -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field"), [(n, f) for n, f in DATA_FIELDS if f in EVIDENCE_FIELD_NAMES]
)
def test_evidence_field_must_be_listed(name: str, field: str) -> None:
    event = example(name)
    event["evidence"] = []
    error = one_error(event)
    assert (error.loc, error.type) == (("data", field), "evidence_not_listed")
    assert event["data"][field] in error.msg

    event = example(name)
    event["evidence"] = [{"sha256": SHA_A, "role": "photo"}]
    assert one_error(event).type == "evidence_not_listed"


@pytest.mark.parametrize("name", ["SmsConfirmationReceived", "NonConformityReported"])
def test_fingerprints_need_no_evidence(name: str) -> None:
    event = example(name)
    event["data"].pop("photo_sha256", None)
    event["evidence"] = []
    call(event)


def test_extra_evidence_may_be_attached() -> None:
    event = example("LetterSent")
    event["evidence"].append({"sha256": SHA_A, "role": "proof_of_deposit"})
    assert call(event).evidence == [
        {"sha256": EXAMPLES["LetterSent"]["data"]["document_sha256"], "role": "letter"},
        {"sha256": SHA_A, "role": "proof_of_deposit"},
    ]


def test_evidence_on_a_type_without_evidence_fields() -> None:
    event = example("GoodsReturned")
    event["evidence"] = [{"sha256": SHA_A, "role": "return_label"}]
    assert call(event).evidence == event["evidence"]


@pytest.mark.parametrize(
    ("reference", "loc", "code"),
    [
        ({"sha256": SHA_A}, (1, "role"), "missing"),
        ({"role": "photo"}, (1, "sha256"), "missing"),
        ({"sha256": SHA_A, "role": ""}, (1, "role"), "empty"),
        ({"sha256": SHA_A, "role": "r" * 65}, (1, "role"), "too_long"),
        ({"sha256": SHA_A, "role": "a\nb"}, (1, "role"), "bad_format"),
        ({"sha256": SHA_A, "role": 1}, (1, "role"), "wrong_type"),
        ({"sha256": SHA_A[:-1], "role": "photo"}, (1, "sha256"), "bad_format"),
        ({"sha256": SHA_A.upper(), "role": "photo"}, (1, "sha256"), "bad_format"),
        ({"sha256": None, "role": "photo"}, (1, "sha256"), "wrong_type"),
        ({"sha256": SHA_A, "role": "photo", "size": 1}, (1, "size"), "unknown_field"),
        ("a" * 64, (1,), "wrong_type"),
        (None, (1,), "wrong_type"),
    ],
)
def test_bad_evidence_reference(reference: Any, loc: tuple[Any, ...], code: str) -> None:
    event = example("LetterSent")
    event["evidence"].append(reference)
    error = one_error(event)
    assert (error.loc, error.type) == (("evidence", *loc), code)


def test_role_of_64_characters_is_accepted() -> None:
    event = example("LetterSent")
    event["evidence"][0]["role"] = "r" * 64
    call(event)


def test_bad_role_does_not_also_report_the_file_as_unlisted() -> None:
    event = example("LetterSent")
    event["evidence"][0]["role"] = 7
    assert one_error(event).loc == ("evidence", 0, "role")


def test_listed_hash_must_match_exactly() -> None:
    event = example("LetterSent")
    event["evidence"][0]["sha256"] = event["evidence"][0]["sha256"].upper()
    errors = {(e.loc, e.type) for e in errors_of(event)}
    assert errors == {
        (("evidence", 0, "sha256"), "bad_format"),
        (("data", "document_sha256"), "evidence_not_listed"),
    }


def test_same_file_listed_twice() -> None:
    event = example("LetterSent")
    event["evidence"].append({"sha256": event["evidence"][0]["sha256"], "role": "copy"})
    error = one_error(event)
    assert (error.loc, error.type) == (("evidence", 1, "sha256"), "duplicate")


@pytest.mark.parametrize(("size", "code"), [(32, None), (33, "too_long")])
def test_evidence_list_length(size: int, code: str | None) -> None:
    event = example("GoodsReturned")
    event["evidence"] = [{"sha256": f"{i:064x}", "role": "photo"} for i in range(size)]
    if code is None:
        assert len(call(event).evidence) == size
    else:
        assert one_error(event).loc == ("evidence",)


@pytest.mark.parametrize("evidence", [{}, "x", 1, {"sha256": SHA_A, "role": "photo"}])
def test_evidence_must_be_an_array(evidence: Any) -> None:
    event = example("GoodsReturned")
    event["evidence"] = evidence
    error = one_error(event)
    assert (error.loc, error.type) == (("evidence",), "wrong_type")


# --- all errors at once ---------------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    event = example("GpsScanRecorded")
    event["occurred_at"] = "2025-03-01T10:00:00"
    event["data"].update(latitude="91", longitude=2.35, accuracy_m=-1, speed_kmh=40)
    del event["data"]["scan_code"]
    event["personal"] = {"phone": "+33612345678"}
    event["evidence"] = [{"sha256": "nope", "role": "photo"}]
    with pytest.raises(ValidationError) as info:
        call(event)
    found = [(e.loc, e.type) for e in info.value.errors]
    assert found == [
        (("occurred_at",), "bad_format"),
        (("data", "latitude"), "out_of_range"),
        (("data", "longitude"), "wrong_type"),
        (("data", "accuracy_m"), "out_of_range"),
        (("data", "scan_code"), "missing"),
        (("data", "speed_kmh"), "unknown_field"),
        (("personal", "phone"), "unknown_field"),
        (("evidence", 0, "sha256"), "bad_format"),
    ]
    text = str(info.value)
    assert "data.latitude: latitude must be" in text
    assert "evidence[0].sha256: " in text
    assert text.count("; ") == len(found) - 1
    assert isinstance(info.value, ValueError)


def test_unknown_type_still_reports_the_other_problems() -> None:
    found = {
        e.loc
        for e in errors_of(
            {
                "type": "Nope",
                "occurred_at": "yesterday",
                "data": [],
                "personal": "x",
                "evidence": {},
            }
        )
    }
    assert found == {("type",), ("occurred_at",), ("data",), ("personal",), ("evidence",)}


# --- case ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["CMD-2025-004817", "a", "7", "A.b_c:d-e", "order:2025:42", "a..b", "x" * 128]
)
def test_valid_case_ids(case: str) -> None:
    assert validate_case_id(case) == case


@pytest.mark.parametrize(
    ("case", "code"),
    [
        (".hidden", "bad_format"),
        ("..", "bad_format"),
        ("../etc/passwd", "bad_format"),
        ("-x", "bad_format"),
        ("_x", "bad_format"),
        (":x", "bad_format"),
        ("a/b", "bad_format"),
        ("a\\b", "bad_format"),
        ("a b", "bad_format"),
        ("a ", "bad_format"),
        ("a\n", "bad_format"),
        ("a\x00", "bad_format"),
        ("a\tb", "bad_format"),
        ("café", "bad_format"),
        ("Ａ1", "bad_format"),
        ("١٢٣", "bad_format"),
        ("a%2F", "bad_format"),
        ("a?b", "bad_format"),
        ("a#b", "bad_format"),
        ("", "empty"),
        ("x" * 129, "too_long"),
        (12, "wrong_type"),
        (None, "wrong_type"),
        (True, "wrong_type"),
        (["CMD-1"], "wrong_type"),
    ],
)
def test_invalid_case_ids(case: Any, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_case_id(case)
    [error] = info.value.errors
    assert (error.loc, error.type) == (("case",), code)
    assert str(info.value).startswith("case: ")


# --- JSON Schema ----------------------------------------------------------------------------------


def _py_pattern(pattern: str) -> str:
    # ECMA-262 '$' (no multiline) matches only at the very end; Python's also before a final '\n'.
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _freeze(value: Any) -> Any:
    # Hashable and type-tagged (true is not 1 in JSON); no json.dumps, which fails on huge ints.
    if isinstance(value, list):
        return ("array", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    return (type(value).__name__, value)


def schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    """The subset of JSON Schema 2020-12 our schemas use (format is an annotation only)."""
    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: type(v) is int,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind is not None and not checks[kind](value):
        return False
    if "enum" in schema and not any(type(value) is type(e) and value == e for e in schema["enum"]):
        return False
    if isinstance(value, str):
        if "pattern" in schema and re.search(_py_pattern(schema["pattern"]), value) is None:
            return False
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
    if type(value) is int and not (
        schema.get("minimum", value) <= value <= schema.get("maximum", value)
    ):
        return False
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            return False
        if schema.get("uniqueItems") and len({_freeze(v) for v in value}) != len(value):
            return False
        if "items" in schema and not all(schema_accepts(schema["items"], v) for v in value):
            return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", [])):
            return False
        if schema.get("additionalProperties") is False and set(value) - set(properties):
            return False
        if not all(schema_accepts(properties[k], v) for k, v in value.items() if k in properties):
            return False
    return True


@pytest.mark.parametrize("name", list(API_TABLE))
def test_json_schema_matches_the_table(name: str) -> None:
    required, optional_, personal = API_TABLE[name]
    schemas = json_schema(EVENT_TYPES[name])
    assert set(schemas) == {"data", "personal"}
    data, pers = schemas["data"], schemas["personal"]
    for schema in (data, pers):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
    assert list(data["properties"]) == [*required, *optional_, *EXTRA_OPTIONAL.get(name, ())]
    assert data["required"] == [f for f in required if (name, f) not in REQUIRED_HERE_OR_PERSONAL]
    assert list(pers["properties"]) == [*personal, *EXTRA_PERSONAL.get(name, ())]
    assert pers["required"] == []
    json.dumps(schemas)  # plain JSON, ready for OpenAPI
    assert schema_accepts(data, EXAMPLES[name]["data"])
    assert schema_accepts(pers, EXAMPLES[name]["personal"])


def test_json_schema_is_a_fresh_copy() -> None:
    schema = json_schema(EVENT_TYPES["CaseOpened"])
    schema["data"]["properties"]["reason"]["enum"].append("fraud")
    assert (
        "fraud"
        not in json_schema(EVENT_TYPES["CaseOpened"])["data"]["properties"]["reason"]["enum"]
    )


def test_case_id_schema_is_the_validator() -> None:
    assert CASE_ID.schema["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


# Strings that sit near the borders of the formats, for the property tests below.
_NEAR_MISSES = st.one_of(
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,11})?", fullmatch=True),
    st.from_regex(r"[0-9a-fA-F]{63,65}", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(Z|[+-][0-9]{2}:[0-9]{2})?",
        fullmatch=True,
    ),
    st.from_regex(r"[A-Za-z]{2,4}", fullmatch=True),
    st.sampled_from(
        [
            "90",
            "-90",
            "90.0000000001",
            "180",
            "-180.0",
            "EUR",
            "XXX",
            "email",
            "sms",
            "letter",
            "withdrawal",
            "customer_name",
            "",
            "x" * 128,
            "x" * 129,
        ]
    ),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 1, -1, 1000, 1001, 10**7, 10**7 + 1, 10**12, 10**12 + 1, 2**63, -(2**63)]),
    # Built lazily: hypothesis repr()s its strategies, and repr() of a 5000-digit int raises.
    st.sampled_from([1, -1]).map(lambda sign: sign * 10**5000),
    st.floats(),
    st.text(max_size=40),
    _NEAR_MISSES,
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["sha256", "role"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)
_FIELD_VALUES = st.one_of(JSON, st.lists(_SCALARS, max_size=4))


def _validator_accepts(name: str, field: str, value: Any) -> bool:
    event = with_data(name, **{field: value})
    try:
        call(event)
    except ValidationError as exc:
        assert all(e.loc[:2] == ("data", field) for e in exc.errors), exc.errors
        return False
    return True


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DATA_FIELDS), _FIELD_VALUES)
def test_schema_and_validator_agree(name_field: tuple[str, str], value: Any) -> None:
    name, field = name_field
    schema = json_schema(EVENT_TYPES[name])["data"]["properties"][field]
    accepted = _validator_accepts(name, field, value)
    if field in EVIDENCE_FIELD_NAMES and schema_accepts(schema, value) and not accepted:
        return  # a well-formed hash that is not in evidence: a rule JSON Schema cannot state
    if accepted:
        assert schema_accepts(schema, value), (name, field, value)
    elif field not in {"deadline", "notified_at"}:
        # Dates and times: calendar validity and the year range are beyond JSON Schema.
        assert not schema_accepts(schema, value), (name, field, value)


@settings(max_examples=300)
@given(
    st.sampled_from(["latitude", "longitude"]),
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,11})?", fullmatch=True)
    | st.from_regex(r"-?(9[0-9]|1[7-9][0-9])(\.0{0,10}[0-9]?)?", fullmatch=True),
)
def test_coordinate_schema_and_validator_agree(field: str, value: str) -> None:
    schema = json_schema(EVENT_TYPES["GpsScanRecorded"])["data"]["properties"][field]
    assert _validator_accepts("GpsScanRecorded", field, value) == schema_accepts(schema, value)


# --- robustness -----------------------------------------------------------------------------------

_ALL_FIELD_NAMES = sorted({f for _, f in DATA_FIELDS} | set(PERSONAL_FIELDS))
_TIMES = st.sampled_from(
    [
        "2025-03-01T10:00:00Z",
        "2025-03-01T10:00:00+01:00",
        "2025-06-01T12:05:00Z",
        "2025-03-01T10:00:00",
        "9999-12-31T23:00:00-02:00",
    ]
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_=st.sampled_from(list(EVENT_TYPES)) | JSON,
    occurred_at=_TIMES | JSON,
    data=st.dictionaries(
        st.sampled_from(_ALL_FIELD_NAMES) | st.text(max_size=8), _FIELD_VALUES, max_size=8
    )
    | JSON,
    personal=st.dictionaries(st.sampled_from(_ALL_FIELD_NAMES), JSON, max_size=4) | JSON,
    evidence=st.lists(st.fixed_dictionaries({"sha256": _SCALARS, "role": _SCALARS}), max_size=3)
    | JSON,
)
def test_only_validation_errors_come_out(
    type_: Any, occurred_at: Any, data: Any, personal: Any, evidence: Any
) -> None:
    try:
        valid = validate_append(type_, occurred_at, data, personal, evidence, now=NOW)
    except ValidationError as exc:
        assert exc.errors
        for error in exc.errors:
            assert isinstance(error.loc, tuple) and error.loc
            assert all(isinstance(part, str | int) for part in error.loc)
            assert error.msg and isinstance(error.msg, str)
            assert error.type in ERROR_TYPES
        assert str(exc)
    else:
        assert valid.type in EVENT_TYPES
        json.dumps([valid.data, valid.personal, valid.evidence], allow_nan=False).encode("utf-8")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DATA_FIELDS), JSON)
def test_junk_in_one_field_is_reported_at_that_field(
    name_field: tuple[str, str], value: Any
) -> None:
    name, field = name_field
    _validator_accepts(name, field, value)  # asserts the location of every error
