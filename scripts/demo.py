"""`temoin demo`: realistic dispute cases covering every event type, loaded once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.config import Settings
from ledger.events.examples import example
from ledger.events.validate import validate_append
from ledger.ledger import AppendRequest, Ledger

TENANT = "demo-shop"
SOURCE = "demo-loader"


@dataclass
class Step:
    type: str
    days_ago: float
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # data field -> file


def _pdf(title: str) -> bytes:
    # A real, minimal one-page PDF, so that evidence files open in a viewer.
    text = title.replace("(", "[").replace(")", "]")
    stream = f"BT /F1 14 Tf 50 780 Td ({text}) Tj ET".encode("latin-1", "replace")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer << /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _photo(label: str) -> bytes:
    return b"\xff\xd8\xff\xe0 demo photo: " + label.encode() + b"\xff\xd9"


SCENARIOS: dict[str, list[Step]] = {
    # A customer withdraws within 14 days of delivery; the refund is still running.
    "DEMO-WITHDRAWAL-001": [
        Step("CaseOpened", 12, {"reason": "withdrawal", "order_ref": "CMD-2026-1101"}),
        Step("GpsScanRecorded", 11, {"parcel_id": "6A00000001101"}),
        Step("WithdrawalRequested", 9),
        Step("WithdrawalAcknowledged", 8.5),
        Step("GoodsReturned", 5),
    ],
    # An electronic registered letter: notified, OTP failed then verified, read.
    "DEMO-LRE-OTP-002": [
        Step("CaseOpened", 20, {"reason": "unpaid", "order_ref": "CMD-2026-0987"}),
        Step("LetterSent", 19, {"letter_id": "LRE-DEMO-0002"},
             {"document_sha256": ("application/pdf", _pdf("Mise en demeure de payer"))}),
        Step("RecipientNotified", 19, {"letter_id": "LRE-DEMO-0002"}),
        Step("OtpFailed", 17),
        Step("OtpVerified", 17, {"letter_id": "LRE-DEMO-0002"}),
        Step("DocumentRead", 17, {"letter_id": "LRE-DEMO-0002"},
             {"document_sha256": ("application/pdf", _pdf("Mise en demeure de payer"))}),
    ],
    # A registered letter never claimed: the 15-day window expired.
    "DEMO-LRE-UNCLAIMED-003": [
        Step("CaseOpened", 40, {"reason": "unpaid", "order_ref": "CMD-2026-0801"}),
        Step("LetterSent", 38, {"letter_id": "LRE-DEMO-0003"},
             {"document_sha256": ("application/pdf", _pdf("Relance avant contentieux"))}),
        Step("RecipientNotified", 38, {"letter_id": "LRE-DEMO-0003"}),
        Step("LetterUnclaimed", 23, {"letter_id": "LRE-DEMO-0003"}),
    ],
    # "The parcel never arrived": photo, GPS scan, signature and the customer's SMS reply.
    "DEMO-DELIVERY-004": [
        Step("CaseOpened", 10, {"reason": "non_delivery", "order_ref": "CMD-2026-1130"}),
        Step("GpsScanRecorded", 11),
        Step("DeliveryPhotoTaken", 11, {},
             {"photo_sha256": ("image/jpeg", _photo("porte palière, 3e étage"))}),
        Step("SignatureCaptured", 11, {},
             {"signature_sha256": ("image/png", _photo("signature"))}),
        Step("SmsConfirmationReceived", 10.9),
        Step("NonConformityReported", 9, {},
             {"photo_sha256": ("image/jpeg", _photo("pied fissuré"))}),
    ],
    # Unpaid order: formal notice (mise en demeure), then a refund, resolution and closure.
    "DEMO-FORMAL-NOTICE-005": [
        Step("CaseOpened", 60, {"reason": "unpaid", "order_ref": "CMD-2026-0555"}),
        Step("FormalNoticeSent", 50, {"letter_id": "LRE-DEMO-0005"}),
        Step("LetterRefused", 48, {"letter_id": "LRE-DEMO-0005"}),
        Step("RefundIssued", 30),
        Step("CaseResolved", 29),
        Step("CaseClosed", 28),
        Step("PersonalDataErased", 1),
    ],
    # A complaint left unanswered, referred to a consumer mediator.
    "DEMO-MEDIATION-006": [
        Step("CaseOpened", 90, {"reason": "non_conformity", "order_ref": "CMD-2026-0222"}),
        Step("NonConformityReported", 88, {},
             {"photo_sha256": ("image/jpeg", _photo("écran rayé"))}),
        Step("MediationReferred", 30),
    ],
}


def _occurred(now: datetime, days_ago: float) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_demo(ledger: Ledger, now: datetime | None = None) -> list[str]:
    """Append the demo cases that are not there yet; returns the case ids it loaded."""
    now = now or datetime.now(UTC)
    loaded = []
    for case, steps in SCENARIOS.items():
        if ledger.case(TENANT, case) is not None:
            continue
        requests = []
        for step in steps:
            body = example(step.type)
            body["data"].update(step.data)
            evidence = []
            for data_field, (media_type, content) in step.files.items():
                stored, _ = ledger.add_evidence(TENANT, content, media_type)
                body["data"][data_field] = stored.sha256
                role = data_field.removesuffix("_sha256")
                evidence.append({"sha256": stored.sha256, "role": role})
            if evidence:
                body["evidence"] = evidence
            event = validate_append(
                step.type, _occurred(now, step.days_ago), body["data"], body["personal"],
                body["evidence"], now=now,
            )
            requests.append(AppendRequest(TENANT, SOURCE, case, event))
        ledger.append(requests)
        loaded.append(case)
    ledger.sign_checkpoint()
    return loaded


def main(settings: Settings) -> int:
    ledger = Ledger(settings)
    try:
        loaded = load_demo(ledger)
        size = ledger.tree_size()
    finally:
        ledger.close()
    if loaded:
        print(f"demo: loaded {len(loaded)} cases for tenant {TENANT!r} (log size {size})")
    else:
        print(f"demo: the demo cases are already loaded (log size {size})")
    for case in SCENARIOS:
        print(f"  - {case}")
    print(f"database: {settings.database_url}")
    print("(the demo back-fills past events: reports flag them as late arrivals, as they should)")
    print()
    print("look at them over HTTP once `temoin serve` runs (http://127.0.0.1:8000, docs at /docs):")
    print(f"  TOKEN=$(temoin keys create --role auditor --tenant {TENANT})")
    base = "http://127.0.0.1:8000/v1/cases"
    print(f'  curl -H "Authorization: Bearer $TOKEN" {base}/DEMO-LRE-OTP-002/timeline')
    print(f'  curl -H "Authorization: Bearer $TOKEN" -H "Accept: application/pdf" '
          f"-o report.pdf {base}/DEMO-DELIVERY-004/report")
    print(f'  curl -H "Authorization: Bearer $TOKEN" -o bundle.zip {base}/DEMO-DELIVERY-004/bundle')
    print("  temoin verify bundle.zip --key \"$(curl -s http://127.0.0.1:8000/v1/log/key "
          '-H "Authorization: Bearer $TOKEN")\"')
    print("or from the shell:")
    print("  temoin verify                                    # the whole log")
    print("  temoin replay DEMO-LRE-OTP-002 --size 8          # a case as of tree size 8")
    print("  temoin report DEMO-DELIVERY-004 --pdf report.pdf # the integrity report")
    return 0
