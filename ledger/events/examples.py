"""One valid example per event type, with the values of a French e-commerce dispute.

Used by the tests, the demo loader and the API documentation. Each value is the body of
`POST /v1/cases/{case}/events` (`type`, `occurred_at`, `data`, `personal`, `evidence`).
Times are in the past and in UTC or Paris time; the hashes stand for files and texts that are
not shipped here. Personal values are fictitious; 203.0.113.0/24 is a documentation network.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

EXAMPLE_CASE = "CMD-2025-004817"


def _sha256(label: str) -> str:
    # Stands in for the SHA-256 of a real file: stable, and distinct per label.
    return hashlib.sha256(label.encode("utf-8")).hexdigest()


LETTER_PDF = _sha256("mise-en-demeure-CMD-2025-004817.pdf")
DELIVERY_PHOTO = _sha256("photo-livraison-6A12345678901.jpg")
SIGNATURE_PNG = _sha256("signature-6A12345678901.png")
DEFECT_PHOTO = _sha256("photo-defaut-lampe-opaline.jpg")


def _event(
    type_: str,
    occurred_at: str,
    data: dict[str, Any],
    personal: dict[str, str] | None = None,
    evidence: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "type": type_,
        "occurred_at": occurred_at,
        "data": data,
        "personal": personal or {},
        "evidence": evidence or [],
    }


EXAMPLES: dict[str, dict[str, Any]] = {
    "CaseOpened": _event(
        "CaseOpened",
        "2025-03-01T10:00:00+01:00",
        {
            "order_ref": "CMD-2025-004817",
            "merchant_id": "boutique-lumiere-lyon",
            "reason": "non_delivery",
            "amount_cents": 12990,
            "currency": "EUR",
        },
        {
            "customer_name": "Camille Dubois",
            "customer_email": "camille.dubois@example.fr",
            "customer_phone": "+33612345678",
            "delivery_address": "12 rue des Lilas\n69003 Lyon\nFrance",
        },
    ),
    "LetterSent": _event(
        "LetterSent",
        "2025-03-03T08:12:45Z",
        {"letter_id": "LRE-2025-000318", "provider": "ar24", "document_sha256": LETTER_PDF},
        {"recipient_email": "camille.dubois@example.fr"},
        [{"sha256": LETTER_PDF, "role": "letter"}],
    ),
    "RecipientNotified": _event(
        "RecipientNotified",
        "2025-03-03T08:13:02Z",
        {"letter_id": "LRE-2025-000318", "channel": "email"},
        {"destination": "camille.dubois@example.fr"},
    ),
    "OtpVerified": _event(
        "OtpVerified",
        "2025-03-04T19:41:27.318000Z",
        {
            "challenge_id": "otp-7f3a9c21",
            "channel": "sms",
            "attempt": 2,
            "letter_id": "LRE-2025-000318",
        },
        {"destination": "+33612345678"},
    ),
    "OtpFailed": _event(
        "OtpFailed",
        "2025-03-04T19:40:55Z",
        {"challenge_id": "otp-7f3a9c21", "channel": "sms", "attempt": 1, "reason": "wrong_code"},
        {"destination": "+33612345678"},
    ),
    "DocumentRead": _event(
        "DocumentRead",
        "2025-03-04T19:42:10Z",
        {"letter_id": "LRE-2025-000318", "document_sha256": LETTER_PDF},
        {"reader_ip": "203.0.113.42"},
        [{"sha256": LETTER_PDF, "role": "letter"}],
    ),
    "LetterRefused": _event(
        "LetterRefused", "2025-03-05T09:30:00Z", {"letter_id": "LRE-2025-000319"}
    ),
    "LetterUnclaimed": _event(
        "LetterUnclaimed",
        "2025-03-18T08:13:03Z",
        {"letter_id": "LRE-2025-000320", "notified_at": "2025-03-03T09:13:02+01:00"},
    ),
    "DeliveryPhotoTaken": _event(
        "DeliveryPhotoTaken",
        "2025-02-26T14:05:11Z",
        {"parcel_id": "6A12345678901", "carrier": "colissimo", "photo_sha256": DELIVERY_PHOTO},
        evidence=[{"sha256": DELIVERY_PHOTO, "role": "delivery_photo"}],
    ),
    "GpsScanRecorded": _event(
        "GpsScanRecorded",
        "2025-02-26T14:04:58Z",
        {
            "parcel_id": "6A12345678901",
            "carrier": "colissimo",
            "latitude": "45.7578137",
            "longitude": "4.8320114",
            "accuracy_m": 12,
            "scan_code": "LIV",
        },
    ),
    "SmsConfirmationReceived": _event(
        "SmsConfirmationReceived",
        "2025-02-26T14:20:33Z",
        {
            "message_id": "sms-20250226-88121",
            "reply": "NON",
            "body_sha256": _sha256("NON, je n'ai pas reçu le colis"),
        },
        {"phone": "+33612345678"},
    ),
    "SignatureCaptured": _event(
        "SignatureCaptured",
        "2025-02-26T14:05:40Z",
        {"parcel_id": "6A12345678901", "signature_sha256": SIGNATURE_PNG},
        {"signer_name": "C. Dubois"},
        [{"sha256": SIGNATURE_PNG, "role": "signature"}],
    ),
    "WithdrawalRequested": _event(
        "WithdrawalRequested",
        "2025-03-06T21:17:00+01:00",
        {
            "channel": "web",
            "items": ["Lampe de chevet Opaline (réf. LUM-0421)", "Ampoule LED E14 2700 K"],
        },
    ),
    "WithdrawalAcknowledged": _event(
        "WithdrawalAcknowledged", "2025-03-07T09:02:00Z", {"channel": "email"}
    ),
    "NonConformityReported": _event(
        "NonConformityReported",
        "2025-03-02T18:45:00Z",
        {
            "description_sha256": _sha256("Le pied de la lampe est fissuré à la livraison."),
            "photo_sha256": DEFECT_PHOTO,
        },
        evidence=[{"sha256": DEFECT_PHOTO, "role": "defect_photo"}],
    ),
    "FormalNoticeSent": _event(
        "FormalNoticeSent",
        "2025-03-10T11:00:00Z",
        {"letter_id": "LRE-2025-000412", "deadline": "2025-03-25", "amount_cents": 12990},
    ),
    "RefundIssued": _event(
        "RefundIssued",
        "2025-03-20T15:30:12Z",
        {"amount_cents": 12990, "currency": "EUR", "transaction_id": "REMB-2025-00931"},
    ),
    "GoodsReturned": _event(
        "GoodsReturned",
        "2025-03-14T10:22:00Z",
        {"parcel_id": "8R98765432109", "carrier": "mondial_relay"},
    ),
    "MediationReferred": _event(
        "MediationReferred",
        "2025-04-02T09:00:00Z",
        {"mediator": "cm2c", "reference": "CM2C-2025-11873"},
    ),
    "CaseResolved": _event(
        "CaseResolved",
        "2025-04-20T16:00:00Z",
        {"outcome": "Remboursement intégral de 129,90 € accepté par la cliente"},
    ),
    "CaseClosed": _event("CaseClosed", "2025-04-21T08:00:00Z", {"outcome": "resolved"}),
    "PersonalDataErased": _event(
        "PersonalDataErased",
        "2025-05-01T00:00:00Z",
        {"legal_basis": "rgpd-art17", "fields": ["customer_name", "customer_email"]},
    ),
    "LegalHoldPlaced": _event(
        "LegalHoldPlaced",
        "2025-04-25T10:00:00Z",
        {"reference": "TJ-LYON-25-01234", "reason": "Assignation devant le tribunal judiciaire"},
    ),
    "LegalHoldReleased": _event(
        "LegalHoldReleased",
        "2025-09-30T10:00:00Z",
        {"reference": "TJ-LYON-25-01234", "reason": "Jugement définitif"},
    ),
    "RetentionClassSet": _event(
        "RetentionClassSet",
        "2025-03-01T10:05:00Z",
        {"retention_class": "distance-sale-120", "reason": "Commande en ligne de 129,90 EUR"},
    ),
}


def example(type_: str) -> dict[str, Any]:
    """A deep copy of the example of `type_`, free to modify."""
    return copy.deepcopy(EXAMPLES[type_])
