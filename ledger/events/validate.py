"""Validation of an event before it is appended (API.md "Appending", DESIGN §3).

Pure: no I/O, no clock (`now` is a parameter). Every problem found is reported, not only the first,
so an integrator fixes a request in one round trip. What needs the store (the case exists, the
evidence files were uploaded, the case is not closed) is checked later, by the ledger.

FieldError.type is one of the codes in `fields.ERROR_TYPES`: missing, unknown_field,
unknown_type, wrong_type, bad_format, out_of_range, too_long, empty, not_allowed, duplicate,
in_future, evidence_not_listed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledger import errors as tree
from ledger.events.clock import (
    TimeFormatError,
    format_rfc3339_utc_minimal,
    parse_rfc3339,
    too_far_ahead,
)
from ledger.events.fields import (
    CASE_ID,
    DUPLICATE,
    EVIDENCE_NOT_LISTED,
    IN_FUTURE,
    MISSING,
    NOT_ALLOWED,
    OUT_OF_RANGE,
    PERSONAL,
    ROLE,
    SHA256,
    TOO_LONG,
    UNKNOWN_FIELD,
    UNKNOWN_TYPE,
    WRONG_TYPE,
    Field,
    Invalid,
    Loc,
    got,
)
from ledger.events.types import EVENT_TYPES, LOCATION_FIELDS, PERSONAL_FIELDS, EventType

MAX_EVIDENCE = 32
EVIDENCE_KEYS = ("sha256", "role")


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    msg: str
    type: str


def format_loc(loc: Sequence[str | int]) -> str:
    """`("data", "items", 2)` -> `data.items[2]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class ValidationError(tree.ValidationError, ValueError):
    """The event was refused; `errors` lists every problem found. (The tree's validation kind,
    refined with a field error per problem: catching `ledger.errors.ValidationError` catches
    this one too.)"""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        # args holds the errors themselves, so that a pickled copy (multiprocessing) is whole.
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "; ".join(f"{format_loc(e.loc)}: {e.msg}" if e.loc else e.msg for e in self.errors)


@dataclass(frozen=True)
class ValidEvent:
    type: str
    occurred_at: str
    data: dict[str, Any]
    personal: dict[str, str]
    evidence: list[dict[str, str]]


class _Errors:
    """Collects errors; `check` runs one validator and records what it refused."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, loc: Loc, msg: str, type_: str) -> None:
        self.items.append(FieldError(loc, msg, type_))

    def check(self, field: Field, name: str, value: Any, loc: Loc) -> tuple[bool, Any]:
        try:
            return True, field.validator(name, value)
        except Invalid as exc:
            for p in exc.problems:
                self.add((*loc, *p.at), p.msg, p.type)
            return False, None


def _hint(key: str, candidates: Iterable[str]) -> str:
    # Long keys are not worth a fuzzy match (and would make it slow).
    if len(key) > 64:
        return ""
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _key_text(key: Any) -> str | int:
    # JSON object keys are strings; anything else only comes from a caller's bug.
    return key if isinstance(key, str) else got(key)


def _object(name: str, value: Any, errors: _Errors, *, required: bool) -> Mapping[Any, Any] | None:
    if value is None:
        if required:
            errors.add((name,), f"{name} is required (an object)", MISSING)
            return None
        return {}
    if not isinstance(value, dict):
        errors.add((name,), f"{name} must be an object, got {got(value)}", WRONG_TYPE)
        return None
    return value


def _check_type(type_: Any, errors: _Errors) -> EventType | None:
    if type_ is None:
        errors.add(("type",), "type is required", MISSING)
        return None
    if not isinstance(type_, str):
        errors.add(("type",), f"type must be a string, got {got(type_)}", WRONG_TYPE)
        return None
    event_type = EVENT_TYPES.get(type_)
    if event_type is None:
        errors.add(
            ("type",),
            f"type must be one of the event types ({', '.join(EVENT_TYPES)}), "
            f"got {got(type_)}{_hint(type_, EVENT_TYPES)}",
            UNKNOWN_TYPE,
        )
    return event_type


def _describe_skew(skew: timedelta) -> str:
    seconds = int(skew.total_seconds())
    if seconds % 60 == 0 and skew.microseconds == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{skew.total_seconds():g} seconds"


def _check_occurred_at(
    value: Any, now: datetime, max_skew: timedelta, errors: _Errors
) -> str | None:
    expected = "occurred_at must be an RFC 3339 time with 'Z' or an offset"
    if value is None:
        errors.add(("occurred_at",), f"{expected}; it is missing", MISSING)
        return None
    if not isinstance(value, str):
        errors.add(("occurred_at",), f"{expected}, got {got(value)}", WRONG_TYPE)
        return None
    try:
        at = parse_rfc3339(value)
    except TimeFormatError as exc:
        errors.add(("occurred_at",), f"{expected}, got {got(value)} ({exc.reason})", exc.kind)
        return None
    if too_far_ahead(at, now, max_skew):
        errors.add(
            ("occurred_at",),
            f"occurred_at must not be more than {_describe_skew(max_skew)} after the ledger's "
            f"clock ({format_rfc3339_utc_minimal(now)}), got {got(value)}",
            IN_FUTURE,
        )
        return None
    return format_rfc3339_utc_minimal(at)


def _check_data(event_type: EventType, data: Mapping[Any, Any], errors: _Errors) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    for name, field in event_type.data.items():
        if name not in data:
            if field.required:
                errors.add(("data", name), f"{name} is required for {event_type.name}", MISSING)
            continue
        ok, value = errors.check(field, name, data[name], ("data", name))
        if ok:
            valid[name] = value
    for key in data:
        if key in event_type.data:
            continue
        if key in PERSONAL_FIELDS:
            # Personal data in `data` would be written in clear into an entry that can never be
            # erased: say where it belongs.
            where = (
                f"send it in personal, where {event_type.name} accepts it"
                if key in event_type.personal
                else f"{event_type.name} does not take it"
            )
            msg = f"{key} is a personal field, not a data field: {where}"
        else:
            fields = ", ".join(event_type.data) or "none"
            msg = (
                f"unknown field {got(key)} in {event_type.name} data (fields: {fields})"
                f"{_hint(key, event_type.data) if isinstance(key, str) else ''}"
            )
        errors.add(("data", _key_text(key)), msg, UNKNOWN_FIELD)
    return valid


def _check_personal(
    event_type: EventType, personal: Mapping[Any, Any], errors: _Errors
) -> dict[str, str]:
    valid: dict[str, str] = {}
    for key, value in personal.items():
        if key not in event_type.personal:
            accepted = ", ".join(event_type.personal) or "none"
            hint = _hint(key, event_type.personal) if isinstance(key, str) else ""
            errors.add(
                ("personal", _key_text(key)),
                f"unknown personal field {got(key)} for {event_type.name} "
                f"(accepted: {accepted}){hint}",
                UNKNOWN_FIELD,
            )
            continue
        ok, clear = errors.check(PERSONAL, key, value, ("personal", key))
        if ok:
            valid[key] = clear
    # Table order, so that equal events give equal ValidEvents whatever the JSON key order.
    return {name: valid[name] for name in event_type.personal if name in valid}


def _check_location(
    event_type: EventType, data: Mapping[Any, Any], personal: Mapping[Any, Any], errors: _Errors
) -> None:
    """A position is either in `data` (clear, forever) or in `personal` (erasable): each of
    latitude and longitude exactly once, and both in the same place."""
    if not set(LOCATION_FIELDS) <= set(event_type.personal):
        return
    in_data = [n for n in LOCATION_FIELDS if n in data]
    in_personal = [n for n in LOCATION_FIELDS if n in personal]
    for name in LOCATION_FIELDS:
        if name in data and name in personal:
            errors.add(("personal", name), f"{name} is given in both data and personal: send it "
                       "in personal only (erasable)", DUPLICATE)
        elif name not in data and name not in personal:
            errors.add(("data", name), f"{name} is required for {event_type.name}, in data or "
                       "(erasable) in personal", MISSING)
    if in_data and in_personal and set(in_data).isdisjoint(in_personal):
        errors.add(("personal",), "latitude and longitude must be sent in the same place, "
                   "both in personal (erasable) or both in data", NOT_ALLOWED)
    for name in in_personal:
        value = personal.get(name)
        validator = event_type.data[name].validator
        try:
            validator(name, value)
        except Invalid:
            # The message must not quote a personal value.
            errors.add(("personal", name), f"{name} must be a decimal string in range, as in "
                       "data (e.g. \"48.8566140\")", OUT_OF_RANGE)


def _check_evidence(evidence: Any, errors: _Errors) -> tuple[list[dict[str, str]], set[str]]:
    """Return the valid references and every well-formed sha256 listed (even in a reference whose
    role is wrong), so that a bad role does not also report the data field as unlisted."""
    if evidence is None:
        return [], set()
    if not isinstance(evidence, list):
        errors.add(("evidence",), f"evidence must be an array, got {got(evidence)}", WRONG_TYPE)
        return [], set()
    if len(evidence) > MAX_EVIDENCE:
        errors.add(
            ("evidence",),
            f"evidence must have at most {MAX_EVIDENCE} items, got {len(evidence)}",
            TOO_LONG,
        )
        return [], set()
    valid: list[dict[str, str]] = []
    listed: set[str] = set()
    for i, item in enumerate(evidence):
        loc: Loc = ("evidence", i)
        if not isinstance(item, dict):
            errors.add(
                loc,
                f"evidence[{i}] must be an object {{sha256, role}}, got {got(item)}",
                WRONG_TYPE,
            )
            continue
        reference: dict[str, str] = {}
        for key, field in (("sha256", SHA256), ("role", ROLE)):
            if key not in item:
                errors.add((*loc, key), f"evidence[{i}].{key} is required", MISSING)
                continue
            ok, value = errors.check(field, f"evidence[{i}].{key}", item[key], (*loc, key))
            if ok:
                reference[key] = value
        for key in item:
            if key not in EVIDENCE_KEYS:
                errors.add(
                    (*loc, _key_text(key)),
                    f"unknown field {got(key)} in evidence[{i}] (fields: sha256, role)",
                    UNKNOWN_FIELD,
                )
        sha256 = reference.get("sha256")
        if sha256 is not None:
            if sha256 in listed:
                # One file, one role per event: a second role would make the entry ambiguous.
                errors.add(
                    (*loc, "sha256"), f"evidence[{i}].sha256 lists {sha256} twice", DUPLICATE
                )
                continue
            listed.add(sha256)
        if len(reference) == len(EVIDENCE_KEYS) and len(item) == len(EVIDENCE_KEYS):
            valid.append(reference)
    return valid, listed


def _check_evidence_refs(
    event_type: EventType, data: Mapping[str, Any], listed: set[str], errors: _Errors
) -> None:
    for name in event_type.evidence_fields:
        sha256 = data.get(name)
        if sha256 is not None and sha256 not in listed:
            errors.add(
                ("data", name),
                f"{name} names evidence file {sha256}, which is not listed in evidence; add "
                f'{{"sha256": "{sha256}", "role": ...}} to evidence (after uploading the file)',
                EVIDENCE_NOT_LISTED,
            )


def validate_append(
    type_: Any,
    occurred_at: Any,
    data: Any,
    personal: Any = None,
    evidence: Any = None,
    *,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=5),
) -> ValidEvent:
    """Check one event to append and return it normalised, or raise `ValidationError` listing
    every problem.

    `now` is the ledger's clock (timezone-aware) and `max_skew` how far `occurred_at` may lie after
    it. `personal` and `evidence` may be None (absent). `occurred_at` comes back in UTC, rendered by
    `clock.format_rfc3339_utc_minimal` (microseconds only when non-zero); `notified_at` likewise.
    The returned containers are new objects: mutating the arguments later does not change them.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise TypeError("now must be a timezone-aware datetime")
    errors = _Errors()
    event_type = _check_type(type_, errors)
    at = _check_occurred_at(occurred_at, now, max_skew, errors)
    data_obj = _object("data", data, errors, required=True)
    personal_obj = _object("personal", personal, errors, required=False)
    # Evidence is read first (data fields must be listed in it) but reported last.
    evidence_errors = _Errors()
    valid_evidence, listed = _check_evidence(evidence, evidence_errors)
    valid_data: dict[str, Any] = {}
    valid_personal: dict[str, str] = {}
    if event_type is not None:
        if data_obj is not None:
            valid_data = _check_data(event_type, data_obj, errors)
            _check_evidence_refs(event_type, valid_data, listed, errors)
        if personal_obj is not None:
            valid_personal = _check_personal(event_type, personal_obj, errors)
        if data_obj is not None:
            _check_location(event_type, data_obj, personal_obj or {}, errors)
    errors.items.extend(evidence_errors.items)
    if errors.items or event_type is None or at is None:
        raise ValidationError(errors.items)
    return ValidEvent(
        type=event_type.name,
        occurred_at=at,
        data=valid_data,
        personal=valid_personal,
        evidence=valid_evidence,
    )


def validate_case_id(case: Any) -> str:
    """Check a case id (`[A-Za-z0-9][A-Za-z0-9._:-]{0,127}`); refuse it with a `ValidationError`
    at ("case",)."""
    errors = _Errors()
    ok, value = errors.check(CASE_ID, "case", case, ("case",))
    if not ok:
        raise ValidationError(errors.items)
    return value
