"""`temoin demo`: realistic dispute cases covering every event type, loaded once.

The cases tell consistent stories dated from today: each entry is recorded a couple of minutes
after it happened, as a live integration would record it, except a few carrier scans uploaded
days later (so that the reports flag those, and only those, as late arrivals). The legal clocks
come out met, missed, running and unclaimed; one case has had its personal data erased; the
photos and the signature are real JPEG and PNG files, the letters real PDFs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.config import Settings
from ledger.events.validate import validate_append
from ledger.ledger import AppendRequest, Ledger
from scripts.demo_media import pdf, photo, signature

TENANT = "demo-shop"
SOURCE = "demo-loader"
RECORDING_DELAY = timedelta(minutes=2)


@dataclass
class Step:
    type: str
    days_ago: float
    data: dict[str, Any] = field(default_factory=dict)
    personal: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # data field -> file
    uploaded_days_ago: float | None = None  # recorded later than it happened (a late upload)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _date(now: datetime, days_ago: float) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%d")


def _time(now: datetime, days_ago: float) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _customer(name: str, email: str, phone: str, address: str) -> dict[str, str]:
    return {"customer_name": name, "customer_email": email, "customer_phone": phone,
            "delivery_address": address}


def _opened(reason: str, order: str, amount: int, customer: dict[str, str],
            days_ago: float) -> Step:
    return Step("CaseOpened", days_ago, {
        "order_ref": order, "merchant_id": "boutique-lumiere-lyon", "reason": reason,
        "amount_cents": amount, "currency": "EUR"}, customer)


def _gps(parcel: str, days_ago: float, uploaded: float | None = None) -> Step:
    # The position is sent in `personal`: committed, sealed, erasable (docs/PRIVACY.md).
    return Step("GpsScanRecorded", days_ago,
                {"parcel_id": parcel, "carrier": "colissimo", "accuracy_m": 8,
                 "scan_code": "LIVRE"},
                {"latitude": "45.7640430", "longitude": "4.8356590"},
                uploaded_days_ago=uploaded)


def scenarios(now: datetime) -> dict[str, list[Step]]:
    year = now.year
    letter = _time(now, 38)
    return {
        # Withdrawal within 14 days of delivery (met); the refund clock is still running.
        "DEMO-WITHDRAWAL-001": [
            _opened("withdrawal", f"CMD-{year}-1101", 12990,
                    _customer("Camille Dubois", "camille.dubois@example.fr", "+33612345678",
                              "12 rue des Lilas\n69003 Lyon\nFrance"), 9),
            _gps("6A00000001101", 11, uploaded=8.99),
            Step("RetentionClassSet", 8.98, {"retention_class": "distance-sale-120",
                                             "reason": "Commande en ligne de 129,90 EUR"}),
            Step("WithdrawalRequested", 8.9, {"channel": "web", "items": ["Lampe Lumière"]}),
            Step("WithdrawalAcknowledged", 8.5, {"channel": "email"}),
            Step("GoodsReturned", 5, {"parcel_id": "6A00000001199", "carrier": "colissimo"}),
        ],
        # An electronic registered letter: notified, OTP failed then verified, read (met).
        "DEMO-LRE-OTP-002": [
            _opened("unpaid", f"CMD-{year}-0987", 45900,
                    _customer("Jules Martin", "jules.martin@example.fr", "+33698765432",
                              "4 place Bellecour\n69002 Lyon\nFrance"), 20),
            Step("LetterSent", 19, {"letter_id": f"LRE-{year}-000002", "provider": "ar24"},
                 {"recipient_email": "jules.martin@example.fr"},
                 {"document_sha256": ("application/pdf", pdf("Mise en demeure de payer"))}),
            Step("RecipientNotified", 18.99, {"letter_id": f"LRE-{year}-000002",
                                              "channel": "email"},
                 {"destination": "jules.martin@example.fr"}),
            Step("OtpFailed", 17, {"challenge_id": "otp-0002-1", "channel": "sms",
                                   "attempt": 1, "reason": "wrong_code"},
                 {"destination": "+33698765432"}),
            Step("OtpVerified", 16.99, {"challenge_id": "otp-0002-2", "channel": "sms",
                                        "attempt": 2, "letter_id": f"LRE-{year}-000002"},
                 {"destination": "+33698765432"}),
            Step("DocumentRead", 16.98, {"letter_id": f"LRE-{year}-000002"},
                 {"reader_ip": "203.0.113.42"},
                 {"document_sha256": ("application/pdf", pdf("Mise en demeure de payer"))}),
        ],
        # A registered letter never claimed within 15 days: unclaimed, not the sender's fault.
        "DEMO-LRE-UNCLAIMED-003": [
            _opened("unpaid", f"CMD-{year}-0801", 8900,
                    _customer("Inès Moreau", "ines.moreau@example.fr", "+33611223344",
                              "8 rue Mercière\n69002 Lyon\nFrance"), 40),
            Step("LetterSent", 38.01, {"letter_id": f"LRE-{year}-000003", "provider": "ar24"},
                 {"recipient_email": "ines.moreau@example.fr"},
                 {"document_sha256": ("application/pdf", pdf("Relance avant contentieux"))}),
            Step("RecipientNotified", 38, {"letter_id": f"LRE-{year}-000003",
                                           "channel": "email"},
                 {"destination": "ines.moreau@example.fr"}),
            Step("LetterUnclaimed", 22, {"letter_id": f"LRE-{year}-000003",
                                         "notified_at": letter}),
        ],
        # "The parcel never arrived": the carrier's scan, photo and signature, uploaded a day
        # and a half late (flagged LATE), and the customer's SMS reply.
        "DEMO-DELIVERY-004": [
            _opened("non_delivery", f"CMD-{year}-1130", 7490,
                    _customer("Léa Bernard", "lea.bernard@example.fr", "+33655443322",
                              "27 cours Gambetta\n69007 Lyon\nFrance"), 10),
            _gps("6A00000001130", 11.5, uploaded=9.99),
            Step("DeliveryPhotoTaken", 11.5, {"parcel_id": "6A00000001130",
                                              "carrier": "colissimo"},
                 files={"photo_sha256": ("image/jpeg",
                                         photo("porte palière, 3e étage", (70, 90, 120)))},
                 uploaded_days_ago=9.98),
            Step("SignatureCaptured", 11.5, {"parcel_id": "6A00000001130"},
                 {"signer_name": "L. Bernard"},
                 {"signature_sha256": ("image/png", signature())}, uploaded_days_ago=9.97),
            Step("SmsConfirmationReceived", 9.9, {
                "message_id": f"sms-{year}-1130-1", "reply": "NON",
                "body_sha256": _sha("NON, je n'ai pas reçu le colis")},
                {"phone": "+33655443322"}),
            Step("NonConformityReported", 9, {
                "description_sha256": _sha("Colis jamais reçu, la signature n'est pas la mienne")},
                files={"photo_sha256": ("image/jpeg", photo("boîte aux lettres vide",
                                                            (120, 70, 60)))}),
        ],
        # Unpaid order: formal notice refused, a settlement, closure, then the customer's
        # personal data erased at their request (crypto-shredded).
        "DEMO-FORMAL-NOTICE-005": [
            _opened("unpaid", f"CMD-{year}-0555", 23900,
                    _customer("Hugo Petit", "hugo.petit@example.fr", "+33677889900",
                              "3 quai Saint-Antoine\n69002 Lyon\nFrance"), 60),
            Step("FormalNoticeSent", 50, {"letter_id": f"LRE-{year}-000005",
                                          "deadline": _date(now, 35), "amount_cents": 23900}),
            Step("LetterRefused", 48, {"letter_id": f"LRE-{year}-000005"}),
            Step("RefundIssued", 30, {"amount_cents": 5000, "currency": "EUR",
                                      "transaction_id": f"TX-{year}-0555"}),
            Step("CaseResolved", 29, {"outcome": "Accord amiable : remise de 50,00 EUR"}),
            Step("CaseClosed", 28, {"outcome": "resolved"}),
            Step("PersonalDataErased", 1, {"legal_basis": "rgpd-art17"}),
        ],
        # A complaint left unanswered, referred to a consumer mediator within the year (met);
        # a legal hold keeps the file while the mediation runs.
        "DEMO-MEDIATION-006": [
            _opened("non_conformity", f"CMD-{year}-0222", 31900,
                    _customer("Chloé Roux", "chloe.roux@example.fr", "+33633221100",
                              "15 rue de la République\n69001 Lyon\nFrance"), 90),
            Step("NonConformityReported", 88, {
                "description_sha256": _sha("Écran rayé à la livraison")},
                files={"photo_sha256": ("image/jpeg", photo("écran rayé", (40, 40, 40)))}),
            Step("MediationReferred", 30, {"mediator": "cm2c",
                                           "reference": f"CM2C-{year}-11873"}),
            Step("LegalHoldPlaced", 29.9, {"reference": f"CM2C-{year}-11873",
                                           "reason": "Médiation en cours"}),
        ],
        # Withdrawal in time, but the refund came 25 days later: the refund clock is missed.
        "DEMO-LATE-REFUND-007": [
            _opened("withdrawal", f"CMD-{year}-0707", 15900,
                    _customer("Nathan Girard", "nathan.girard@example.fr", "+33644556677",
                              "40 avenue Jean Jaurès\n69007 Lyon\nFrance"), 46),
            _gps("6A00000000707", 48, uploaded=45.99),
            Step("WithdrawalRequested", 45, {"channel": "email", "items": ["Fauteuil Opale"]}),
            Step("WithdrawalAcknowledged", 44, {"channel": "email"}),
            Step("GoodsReturned", 40, {"parcel_id": "6A00000000799", "carrier": "colissimo"}),
            Step("RefundIssued", 20, {"amount_cents": 15900, "currency": "EUR",
                                      "transaction_id": f"TX-{year}-0707"}),
            Step("LegalHoldPlaced", 19, {"reference": "AVOCAT-0707",
                                         "reason": "Réclamation des intérêts de retard"}),
            Step("LegalHoldReleased", 5, {"reference": "AVOCAT-0707",
                                          "reason": "Intérêts versés"}),
        ],
    }


SCENARIOS = scenarios(datetime.now(UTC))


def _recorded(now: datetime, step: Step) -> datetime:
    if step.uploaded_days_ago is not None:
        return now - timedelta(days=step.uploaded_days_ago)
    return now - timedelta(days=step.days_ago) + RECORDING_DELAY


def load_demo(ledger: Ledger, now: datetime | None = None) -> list[str]:
    """Append the demo cases that are not there yet, in the order a live ledger would have
    recorded them (every case's entries interleaved by time); returns the cases it loaded."""
    now = now or datetime.now(UTC)
    todo = {case: steps for case, steps in scenarios(now).items()
            if ledger.case(TENANT, case) is None}
    timeline = sorted(((_recorded(now, step), case, n, step)
                       for case, steps in todo.items() for n, step in enumerate(steps)),
                      key=lambda item: (item[0], item[1], item[2]))
    for recorded, case, _n, step in timeline:
        data = dict(step.data)
        evidence = []
        for data_field, (media_type, content) in step.files.items():
            stored, _ = ledger.add_evidence(TENANT, content, media_type)
            data[data_field] = stored.sha256
            evidence.append({"sha256": stored.sha256, "role": data_field.removesuffix("_sha256")})
        event = validate_append(step.type, _time(now, step.days_ago), data, step.personal,
                                evidence, now=recorded)
        ledger.append([AppendRequest(TENANT, SOURCE, case, event)], now=recorded)
    ledger.sign_checkpoint()
    return list(todo)


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
    print("(entries are recorded as a live integration would have recorded them over the last "
          "90 days; three carrier uploads came late and are flagged so)")
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
    print("  temoin replay DEMO-LATE-REFUND-007               # a missed refund clock")
    print("  temoin report DEMO-DELIVERY-004 --pdf report.pdf # the integrity report")
    return 0
