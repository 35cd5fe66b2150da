"""The event types of a dispute and their fields: API.md, "Event types and their fields".

`EVENT_TYPES` is the one table; validation (`validate.py`) and the published JSON Schemas
(`json_schema`) are both read from it. Fields may be added to a type, never made required
(API.md), so a type's required fields are frozen once published.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ledger.events.fields import (
    ACCURACY_M,
    AMOUNT_CENTS,
    ATTEMPT,
    CURRENCY,
    DATE,
    EVIDENCE_SHA256,
    FINGERPRINT_SHA256,
    ID,
    ITEMS,
    LATITUDE,
    LONGITUDE,
    PERSONAL,
    SHA256,
    TEXT,
    TIME,
    Field,
    enum,
    list_field,
    optional,
)

CASE_REASONS = ("withdrawal", "non_conformity", "non_delivery", "unpaid", "other")
CHANNELS = ("email", "sms", "voice", "app", "web", "letter", "phone")
NOTIFICATION_CHANNELS = ("email", "sms")

# Data fields that name an evidence file (API.md); `body_sha256` and `description_sha256` are
# fingerprints of text kept elsewhere and are deliberately absent.
EVIDENCE_FIELD_NAMES = frozenset({"document_sha256", "photo_sha256", "signature_sha256"})

# Every personal field of every type: what `PersonalDataErased.fields` may name. The tests check
# that it equals the union of the table's personal fields.
PERSONAL_FIELDS = (
    "customer_name",
    "customer_email",
    "customer_phone",
    "delivery_address",
    "recipient_email",
    "destination",
    "reader_ip",
    "phone",
    "signer_name",
    "latitude",
    "longitude",
)
# A delivery's position locates the customer's home: it may be sent in `personal` (committed,
# erasable, and kept under the shorter `location` retention) instead of `data`. Exactly one of
# the two places must hold the pair.
LOCATION_FIELDS = ("latitude", "longitude")
MAX_ERASED_FIELDS = 32

CASE_REASON = enum(*CASE_REASONS)
CHANNEL = enum(*CHANNELS)
NOTIFICATION_CHANNEL = enum(*NOTIFICATION_CHANNELS)
ERASED_FIELDS = list_field(enum(*PERSONAL_FIELDS), MAX_ERASED_FIELDS, unique=True)
HOLD_REFERENCES = list_field(ID, 32, unique=True)
DESTROYED_FILES = list_field(SHA256, 10_000, unique=True)


@dataclass(frozen=True)
class EventType:
    name: str
    data: Mapping[str, Field]
    personal: tuple[str, ...]
    evidence_fields: tuple[str, ...]
    description: str


def _type(
    name: str, description: str, data: Mapping[str, Field], personal: Iterable[str] = ()
) -> EventType:
    return EventType(
        name=name,
        data=MappingProxyType(dict(data)),
        personal=tuple(personal),
        evidence_fields=tuple(f for f in data if f in EVIDENCE_FIELD_NAMES),
        description=description,
    )


_TABLE = (
    _type(
        "CaseOpened",
        "Dispute case opened for an order",
        {
            "order_ref": ID,
            "merchant_id": ID,
            "reason": CASE_REASON,
            "amount_cents": optional(AMOUNT_CENTS),
            "currency": optional(CURRENCY),
            "retention_class": optional(ID),
        },
        ("customer_name", "customer_email", "customer_phone", "delivery_address"),
    ),
    _type(
        "LetterSent",
        "LRE deposited (lettre recommandée électronique)",
        {"letter_id": ID, "provider": ID, "document_sha256": EVIDENCE_SHA256},
        ("recipient_email",),
    ),
    _type(
        "RecipientNotified",
        "Recipient notified of a waiting LRE by e-mail or SMS",
        {"letter_id": ID, "channel": NOTIFICATION_CHANNEL},
        ("destination",),
    ),
    _type(
        "OtpVerified",
        "Recipient identified by a one-time code",
        {"challenge_id": ID, "channel": CHANNEL, "attempt": ATTEMPT, "letter_id": optional(ID)},
        ("destination",),
    ),
    _type(
        "OtpFailed",
        "One-time code check failed",
        # `reason` here says why the code failed (e.g. wrong_code, expired): a short id, not the
        # case reason enumeration, which would make no sense for an OTP.
        {"challenge_id": ID, "channel": CHANNEL, "attempt": ATTEMPT, "reason": ID},
        ("destination",),
    ),
    _type(
        "DocumentRead",
        "LRE document consulted and accepted by the recipient",
        {"letter_id": ID, "document_sha256": EVIDENCE_SHA256},
        ("reader_ip",),
    ),
    _type("LetterRefused", "LRE refused by the recipient", {"letter_id": ID}),
    _type(
        "LetterUnclaimed",
        "LRE not accepted within 15 days of the notification",
        {"letter_id": ID, "notified_at": TIME},
    ),
    _type(
        "DeliveryPhotoTaken",
        "Photo taken by the carrier at delivery",
        {"parcel_id": ID, "carrier": ID, "photo_sha256": EVIDENCE_SHA256},
    ),
    _type(
        "GpsScanRecorded",
        "Parcel scanned by the carrier, with its GPS position",
        {
            "parcel_id": ID,
            "carrier": ID,
            # Required here or, better, in `personal` (erasable): see LOCATION_FIELDS.
            "latitude": optional(LATITUDE),
            "longitude": optional(LONGITUDE),
            "accuracy_m": ACCURACY_M,
            "scan_code": ID,
        },
        ("latitude", "longitude"),
    ),
    _type(
        "SmsConfirmationReceived",
        "SMS reply received from the customer",
        {"message_id": ID, "reply": ID, "body_sha256": FINGERPRINT_SHA256},
        ("phone",),
    ),
    _type(
        "SignatureCaptured",
        "Signature captured at delivery",
        {"parcel_id": ID, "signature_sha256": EVIDENCE_SHA256},
        ("signer_name",),
    ),
    _type(
        "WithdrawalRequested",
        "Customer exercised the right of withdrawal (droit de rétractation)",
        {"channel": CHANNEL, "items": optional(ITEMS)},
    ),
    _type("WithdrawalAcknowledged", "Merchant acknowledged the withdrawal", {"channel": CHANNEL}),
    _type(
        "NonConformityReported",
        "Customer reported goods not in conformity with the contract",
        {"description_sha256": FINGERPRINT_SHA256, "photo_sha256": optional(EVIDENCE_SHA256)},
    ),
    _type(
        "FormalNoticeSent",
        "Formal notice sent (mise en demeure)",
        {"letter_id": ID, "deadline": DATE, "amount_cents": optional(AMOUNT_CENTS)},
    ),
    _type(
        "RefundIssued",
        "Refund issued to the customer",
        {"amount_cents": AMOUNT_CENTS, "currency": CURRENCY, "transaction_id": ID},
    ),
    _type("GoodsReturned", "Goods returned to the merchant", {"parcel_id": ID, "carrier": ID}),
    _type(
        "MediationReferred",
        "Dispute referred to a consumer mediator (médiateur de la consommation)",
        {"mediator": ID, "reference": ID},
    ),
    _type("CaseResolved", "Dispute resolved", {"outcome": TEXT}),
    _type("CaseClosed", "Case closed", {"outcome": optional(TEXT)}),
    _type(
        "PersonalDataErased",
        "Personal data of the case erased (crypto-shredding)",
        {
            "legal_basis": ID,
            "fields": optional(ERASED_FIELDS),
            # An admin's explicit erasure despite legal holds: every active hold, by reference.
            "override_holds": optional(HOLD_REFERENCES),
            # Set by `temoin retention apply` only (refused over HTTP).
            "retention_class": optional(ID),
            "retention_run": optional(ID),
            "evidence_destroyed": optional(DESTROYED_FILES),
        },
    ),
    # Beyond API.md's table (issue 12): the archive's lifecycle.
    _type(
        "LegalHoldPlaced",
        "Legal hold placed: retention and erasure of the case are suspended",
        {"reference": ID, "reason": TEXT},
    ),
    _type(
        "LegalHoldReleased",
        "Legal hold released",
        {"reference": ID, "reason": optional(TEXT)},
    ),
    _type(
        "RetentionClassSet",
        "Retention class of the case set (how long after closure its data is kept)",
        {"retention_class": ID, "reason": optional(TEXT)},
    ),
)
# Data fields only `temoin retention apply` may write: they state that it destroyed something.
RETENTION_ONLY_FIELDS = ("retention_run", "evidence_destroyed", "retention_class")

EVENT_TYPES: Mapping[str, EventType] = MappingProxyType({t.name: t for t in _TABLE})

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _object_schema(
    title: str, description: str, properties: Mapping[str, Mapping[str, Any]], required: list[str]
) -> dict[str, Any]:
    return {
        "$schema": _SCHEMA_DIALECT,
        "title": title,
        "description": description,
        "type": "object",
        "properties": {name: copy.deepcopy(dict(schema)) for name, schema in properties.items()},
        "required": required,
        "additionalProperties": False,
    }


def json_schema(event_type: EventType) -> dict[str, Any]:
    """JSON Schemas (draft 2020-12) of the type's `data` and `personal` objects.

    Returns `{"data": {...}, "personal": {...}}`, a fresh copy each call. The schemas accept
    everything the validators accept; the validators also check what JSON Schema cannot say
    (calendar dates, UTC year range, that evidence fields are listed in `evidence`, no lone
    surrogates), and `format` is only an annotation in draft 2020-12.
    """
    data = _object_schema(
        f"{event_type.name} data",
        event_type.description,
        {name: field.schema for name, field in event_type.data.items()},
        [name for name, field in event_type.data.items() if field.required],
    )
    personal = _object_schema(
        f"{event_type.name} personal",
        "Clear personal values, all optional; the ledger stores only commitments to them",
        {name: PERSONAL.schema for name in event_type.personal},
        [],
    )
    return {"data": data, "personal": personal}
