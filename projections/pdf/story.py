"""The case told as a story: a human name and one plain sentence per event, the parties named
from the openings (when the reader may see them), and the legal clocks in words.

Every text here is an English msgid translated by the gettext catalogue (`projections.i18n`);
`N_` only marks a constant for extraction, the translation happens where it is printed.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from projections.i18n import Translator
from projections.legal_calendar import paris_date, unmoved_last_day
from projections.pdf.layout import EMPTY, parse_time, text


def N_(message: str) -> str:
    """Marks a constant for extraction (the gettext convention); translated where printed."""
    return message


# The human name of each event type (ledger/events/types.py), as a heading of its row.
EVENT_NAMES: dict[str, str] = {
    "CaseOpened": N_("Case opened"),
    "LetterSent": N_("Electronic registered letter sent"),
    "RecipientNotified": N_("Recipient notified of the letter"),
    "OtpVerified": N_("Recipient identified by one-time code"),
    "OtpFailed": N_("One-time code check failed"),
    "DocumentRead": N_("Registered letter accepted and read"),
    "LetterRefused": N_("Registered letter refused"),
    "LetterUnclaimed": N_("Registered letter unclaimed"),
    "DeliveryPhotoTaken": N_("Delivery photo taken"),
    "GpsScanRecorded": N_("Parcel scanned with GPS position"),
    "SmsConfirmationReceived": N_("SMS reply received"),
    "SignatureCaptured": N_("Signature captured at delivery"),
    "WithdrawalRequested": N_("Right of withdrawal exercised"),
    "WithdrawalAcknowledged": N_("Withdrawal acknowledged"),
    "NonConformityReported": N_("Non-conformity reported"),
    "FormalNoticeSent": N_("Formal notice sent"),
    "RefundIssued": N_("Refund issued"),
    "GoodsReturned": N_("Goods returned"),
    "MediationReferred": N_("Referred to a consumer mediator"),
    "CaseResolved": N_("Dispute resolved"),
    "CaseClosed": N_("Case closed"),
    "PersonalDataErased": N_("Personal data erased"),
    "LegalHoldPlaced": N_("Legal hold placed"),
    "LegalHoldReleased": N_("Legal hold released"),
    "RetentionClassSet": N_("Retention class set"),
}

# One sentence per event type; `{field}` is the entry's data field, `{amount}` its amount as
# money. A field the entry lacks prints as an em dash, never as an error.
SENTENCES: dict[str, str] = {
    "CaseOpened": N_("A dispute case was opened for order {order_ref} (reason: {reason})."),
    "LetterSent": N_("Electronic registered letter {letter_id} was deposited with {provider}."),
    "RecipientNotified": N_("The recipient was notified by {channel} that letter {letter_id} "
                            "was waiting."),
    "OtpVerified": N_("The recipient was identified by a one-time code sent by {channel} "
                      "(attempt {attempt})."),
    "OtpFailed": N_("A one-time code sent by {channel} was rejected ({reason}, attempt "
                    "{attempt})."),
    "DocumentRead": N_("The recipient accepted and opened letter {letter_id}."),
    "LetterRefused": N_("The recipient refused letter {letter_id}."),
    "LetterUnclaimed": N_("Letter {letter_id} was not claimed within 15 days of the "
                          "notification of {notified_at}."),
    "DeliveryPhotoTaken": N_("Carrier {carrier} photographed parcel {parcel_id} at delivery."),
    "GpsScanRecorded": N_("Carrier {carrier} scanned parcel {parcel_id} ({scan_code}) at "
                          "{latitude}, {longitude}, within {accuracy_m} m."),
    "SmsConfirmationReceived": N_("The customer replied by SMS: \u201c{reply}\u201d."),
    "SignatureCaptured": N_("A signature was captured at the delivery of parcel {parcel_id}."),
    "WithdrawalRequested": N_("The customer exercised the right of withdrawal by {channel}."),
    "WithdrawalAcknowledged": N_("The merchant acknowledged the withdrawal by {channel}."),
    "NonConformityReported": N_("The customer reported goods not in conformity with the "
                                "contract."),
    "FormalNoticeSent": N_("Formal notice {letter_id} was sent, with a deadline of "
                           "{deadline}."),
    "RefundIssued": N_("A refund of {amount} was issued (transaction {transaction_id})."),
    "GoodsReturned": N_("The goods were returned to the merchant (parcel {parcel_id}, "
                        "carrier {carrier})."),
    "MediationReferred": N_("The dispute was referred to the consumer mediator {mediator} "
                            "(reference {reference})."),
    "CaseResolved": N_("The dispute was resolved: {outcome}."),
    "CaseClosed": N_("The case was closed (outcome: {outcome})."),
    "PersonalDataErased": N_("The personal data of the case was erased (legal basis: "
                             "{legal_basis})."),
    "LegalHoldPlaced": N_("A legal hold ({reference}) suspended the retention and erasure of "
                          "the case: {reason}."),
    "LegalHoldReleased": N_("The legal hold {reference} was released."),
    "RetentionClassSet": N_("The case's data is kept under retention class {retention_class} "
                            "after its closure."),
}

# Enumerated values (types.py) a reader should not have to decode.
VALUES: dict[str, str] = {
    "withdrawal": N_("withdrawal"),
    "non_conformity": N_("non-conformity"),
    "non_delivery": N_("non-delivery"),
    "unpaid": N_("unpaid"),
    "other": N_("other"),
    "email": N_("e-mail"),
    "sms": N_("SMS"),
    "voice": N_("voice call"),
    "app": N_("app"),
    "web": N_("website"),
    "letter": N_("letter"),
    "phone": N_("phone"),
}

# Who each personal field names or reaches: "Camille Dubois (customer)".
PERSONAL_ROLES: dict[str, str] = {
    "customer_name": N_("customer"),
    "customer_email": N_("customer's e-mail"),
    "customer_phone": N_("customer's phone"),
    "delivery_address": N_("delivery address"),
    "recipient_email": N_("letter recipient's e-mail"),
    "destination": N_("where the code or notice was sent"),
    "reader_ip": N_("reader's IP address"),
    "phone": N_("phone of the SMS reply"),
    "signer_name": N_("signer at delivery"),
}
# The fields that name a person, listed first among the parties.
NAMES = ("customer_name", "signer_name")

CLOCK_LABELS: dict[str, str] = {
    "withdrawal": N_("Withdrawal period: 14 days from delivery"),
    "lre_acceptance": N_("Registered letter {letter}: 15 days to accept or refuse"),
    "refund": N_("Refund: 14 days from the withdrawal"),
    "mediation": N_("Mediation: 1 year from the written complaint"),
}
CLOCK_STATUSES: dict[str, str] = {
    "met": N_("met"),
    "missed": N_("missed"),
    "running": N_("running"),
    "unclaimed": N_("unclaimed"),
}

Openings = Mapping[int, Mapping[str, str]]  # entry index -> {personal field: clear value}


def event_name(tr: Translator, event_type: Any) -> str:
    name = EVENT_NAMES.get(str(event_type))
    return tr.t(name) if name else text(event_type)


def in_story_order(entries: Sequence[Any]) -> list[dict[str, Any]]:
    """Entries in the order things happened (occurred_at), the log index breaking ties: a
    delivery recorded after the case was opened still comes before it. An entry without a
    readable time keeps its log position at the end."""
    rows = [e for e in entries if isinstance(e, dict)]

    def key(entry: dict[str, Any]) -> tuple[int, datetime, int]:
        at = parse_time(entry.get("occurred_at"))
        index = entry.get("index") if isinstance(entry.get("index"), int) else 0
        return (0, at, index) if at else (1, datetime.min, index)

    return sorted(rows, key=key)


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return EMPTY


def sentence(tr: Translator, entry: dict[str, Any]) -> str:
    """The event in one sentence, with any data field the sentence does not mention after it."""
    data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
    template = SENTENCES.get(str(entry.get("type")))
    values = _Blank({str(k): _value(tr, k, v, data) for k, v in data.items()})
    if isinstance(data.get("amount_cents"), int):
        values["amount"] = tr.money(data["amount_cents"], data.get("currency"))
    if template is None:
        return "; ".join(f"{k}: {v}" for k, v in values.items()) or EMPTY
    said = tr.t(template).format_map(values)
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if "amount" in used:
        used |= {"amount_cents", "currency"}
    rest = [(k, v) for k, v in values.items() if k not in used and k != "amount"]
    if entry.get("type") == "CaseOpened" and "amount" in values:
        said += " " + tr.t("Amount at stake: {amount}.").format(amount=values["amount"])
        rest = [(k, v) for k, v in rest if k not in ("amount_cents", "currency")]
    if rest:
        said += "\n" + "; ".join(f"{k}: {v}" for k, v in rest)
    return said


def _value(tr: Translator, key: Any, value: Any, data: dict[str, Any]) -> str:
    if isinstance(value, str) and value in VALUES and key in ("reason", "channel"):
        return tr.t(VALUES[value])
    if str(key).endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return tr.money(value, data.get("currency"))
    if isinstance(value, float):
        return tr.number(value)
    # A line break inside a value would read as a new fact: show it as a pilcrow instead.
    return text(value).replace("\n", " ¶ ")


def personal_lines(tr: Translator, entry: dict[str, Any], openings: Openings | None) -> str:
    """The personal values of an entry: named from its opening when the reader may see it,
    otherwise only which fields the entry commits to."""
    fields = [str(f) for f in entry.get("personal_fields") or []]
    if not fields:
        return ""
    opened = openings.get(entry.get("index")) if openings is not None else None
    if opened:
        gone = tr.t("(erased or not opened)")
        return "\n".join(f"{_role(tr, f)}: {opened.get(f, gone)}" for f in fields)
    return tr.t("Personal data committed, not printed: {fields}").format(
        fields=", ".join(_role(tr, f) for f in fields))


def _role(tr: Translator, field: str) -> str:
    role = PERSONAL_ROLES.get(field)
    return tr.t(role) if role else field


def parties(tr: Translator, entries: Sequence[dict[str, Any]],
            openings: Openings) -> list[tuple[str, str, str]]:
    """(value, role, entry indexes) for each distinct personal value of the case, people's
    names first: "Camille Dubois", "customer", "0"."""
    seen: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        opened = openings.get(entry.get("index")) or {}
        for field, value in opened.items():
            seen.setdefault((field, value), []).append(text(entry.get("index")))
    order = sorted(seen, key=lambda k: (k[0] not in NAMES, NAMES.index(k[0])
                                        if k[0] in NAMES else 0, k[0]))
    return [(value, _role(tr, field), ", ".join(dict.fromkeys(seen[(field, value)])))
            for field, value in order]


def party_names(tr: Translator, entries: Sequence[dict[str, Any]],
                openings: Openings | None) -> list[str]:
    """"Camille Dubois (customer)" for each person the openings name."""
    if not openings:
        return []
    return [f"{value} ({role})" for value, role, _ in parties(tr, entries, openings)
            if role in (tr.t(PERSONAL_ROLES[f]) for f in NAMES)]


def clock_label(tr: Translator, clock: dict[str, Any], entries: Sequence[dict[str, Any]]) -> str:
    label = CLOCK_LABELS.get(str(clock.get("name")))
    if label is None:
        return text(clock.get("label"))
    started = _dict(clock.get("started_by")).get("index")
    letter = next((_dict(e.get("data")).get("letter_id") for e in entries
                   if e.get("index") == started), None)
    return tr.t(label).format(letter=text(letter))


def clock_status(tr: Translator, status: Any) -> str:
    name = CLOCK_STATUSES.get(str(status))
    return tr.t(name) if name else text(status)


def clock_explanation(tr: Translator, clock: dict[str, Any]) -> str:
    """How the clock was counted and where it stands, in the reader's language."""
    start, end = _dict(clock.get("started_by")), _dict(clock.get("met_by"))
    started_at, ends = parse_time(start.get("at")), parse_time(clock.get("deadline"))
    if started_at is None or ends is None:
        return text(clock.get("explanation"))
    said = tr.t("Counted from {event} (index {index}) of {when}, Paris time; the period ends "
                "at the end of its last day, {deadline} (Paris time), that is {utc} UTC.").format(
        event=event_name(tr, start.get("type")), index=text(start.get("index")),
        when=tr.paris_time(started_at), deadline=tr.paris_time(ends),
        utc=ends.strftime("%Y-%m-%d %H:%M:%S"))
    name = str(clock.get("name"))
    try:
        moved = unmoved_last_day(name, paris_date(started_at)).isoformat() != clock.get(
            "last_day")
    except KeyError:
        moved = False
    if moved:
        said += " " + tr.t("The last day fell on a Saturday, Sunday or public holiday and "
                           "moved to the next working day.")
    status, by_at = clock.get("status"), parse_time(end.get("at"))
    by = (event_name(tr, end.get("type")), text(end.get("index")),
          tr.paris_time(by_at) if by_at else EMPTY)
    if status == "met" and end:
        said += " " + tr.t("Met by {event} (index {index}) on {when}.").format(
            event=by[0], index=by[1], when=by[2])
    elif status == "missed" and end:
        said += " " + tr.t("Missed: {event} (index {index}) came on {when}, after the last "
                           "day.").format(event=by[0], index=by[1], when=by[2])
    elif status == "missed":
        said += " " + tr.t("Missed: nothing recorded met it by the end of the last day.")
    elif status == "unclaimed":
        said += " " + tr.t("Unclaimed: the recipient did not claim the letter within the 15 "
                           "days; it is deemed presented to them (CPCE R53-3). This is not a "
                           "failure of the sender.")
    elif status == "running":
        said += " " + tr.t("Running: the last day had not ended when the timeline was read.")
    return said


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
