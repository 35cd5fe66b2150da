"""Field validators for event `data`, `personal` values and evidence references.

A validator is a small pure function `(name, value) -> normalised value`. `name` is only used to
write messages; a validator that refuses a value raises `Invalid`, whose problems are located
relative to the field (`()` for the field itself, `(3,)` for the fourth item of a list).

A `Field` pairs a validator with the JSON Schema (draft 2020-12) that documents it, so that the
OpenAPI description cannot drift away from what is enforced: they are defined side by side. Where
JSON Schema cannot say everything (calendar validity, UTC year range, "no lone surrogates"), the
schema is looser than the validator, never stricter.

Values keep their JSON types: nothing is coerced ("12" is not 12, true is not 1, 1.0 is not 1).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NoReturn

from ledger.errors import ValidationError
from ledger.events.clock import RFC3339_SCHEMA_PATTERN, TimeFormatError, normalise_rfc3339

Loc = tuple[str | int, ...]
Validator = Callable[[str, Any], Any]

# Machine codes of FieldError.type (the set is part of the API's problem+json answers).
MISSING = "missing"
UNKNOWN_FIELD = "unknown_field"
UNKNOWN_TYPE = "unknown_type"
WRONG_TYPE = "wrong_type"
BAD_FORMAT = "bad_format"
OUT_OF_RANGE = "out_of_range"
TOO_LONG = "too_long"
EMPTY = "empty"
NOT_ALLOWED = "not_allowed"
DUPLICATE = "duplicate"
IN_FUTURE = "in_future"
EVIDENCE_NOT_LISTED = "evidence_not_listed"
PERSONAL_DATA = "personal_data"
ERROR_TYPES = frozenset(
    {
        PERSONAL_DATA,
        MISSING,
        UNKNOWN_FIELD,
        UNKNOWN_TYPE,
        WRONG_TYPE,
        BAD_FORMAT,
        OUT_OF_RANGE,
        TOO_LONG,
        EMPTY,
        NOT_ALLOWED,
        DUPLICATE,
        IN_FUTURE,
        EVIDENCE_NOT_LISTED,
    }
)

MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 1024
MAX_ROLE_LENGTH = 64
MAX_AMOUNT_CENTS = 10**12
MAX_ATTEMPT = 1000
MAX_ACCURACY_M = 10**7

# ISO 4217 list one (2025), currencies only: fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI,
# UYW), precious metals, bond-market units, XDR, XSU, XUA, XTS and XXX are left out because no
# shop refunds in them. Withdrawn codes (HRK, SLL, CUC, ...) are left out too.
_CURRENCY_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())


@dataclass(frozen=True)
class Problem:
    at: Loc
    msg: str
    type: str


class Invalid(ValidationError, ValueError):
    """A value was refused; `problems` says where (relative to the field), what and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.msg for p in problems))
        self.problems = list(problems)


def fail(msg: str, type_: str, at: Loc = ()) -> NoReturn:
    raise Invalid([Problem(at, msg, type_)])


def got(value: Any) -> str:
    """Describe a received value for a message, briefly and without ever failing."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # str() of a huge int raises ValueError (sys.int_info.str_digits_check_threshold).
        if abs(value) < 10**30:
            return str(value)
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        if len(value) > 60:
            return f"{value[:60]!r}… ({len(value)} characters)"
        return repr(value)
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Field:
    """How one field is checked (`validator`) and documented (`schema`), and whether it must be
    present."""

    validator: Validator
    schema: Mapping[str, Any]
    required: bool = True


def optional(field: Field) -> Field:
    return replace(field, required=False)


# --- strings -------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Tab and line breaks are legitimate inside personal values (postal addresses span lines); they
# never reach an entry in clear, only as a commitment.
_CONTROL_EXCEPT_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Lone surrogates can come out of json.loads("\"\\ud800\"") but cannot be encoded as UTF-8, so the
# entry (or the commitment) could not be written.
_SURROGATE = re.compile(r"[\ud800-\udfff]")

_NO_CONTROL_PATTERN = "^[^\\u0000-\\u001F\\u007F]*$"
_NO_CONTROL_EXCEPT_BREAKS_PATTERN = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$"


def json_kind(value: Any) -> str:
    """The JSON kind of a value, for messages that must not echo it (personal data)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return got(value)


def _string(
    name: str,
    value: Any,
    max_length: int,
    control: re.Pattern[str] = _CONTROL,
    show: Callable[[Any], str] = got,
) -> str:
    if not isinstance(value, str):
        fail(f"{name} must be a string, got {show(value)}", WRONG_TYPE)
    if not value:
        fail(f"{name} must not be empty", EMPTY)
    if len(value) > max_length:
        fail(f"{name} must be at most {max_length} characters, got {len(value)}", TOO_LONG)
    if bad := control.search(value):
        fail(
            f"{name} must not contain control characters, got U+{ord(bad.group()):04X} "
            f"at position {bad.start()}",
            BAD_FORMAT,
        )
    if bad := _SURROGATE.search(value):
        fail(
            f"{name} must be valid Unicode text, got a lone surrogate U+{ord(bad.group()):04X} "
            f"at position {bad.start()}",
            BAD_FORMAT,
        )
    return value


# What looks like contact data. Entry bytes are hashed into the tree and can never be erased,
# so personal data must go through `personal` (committed, sealed, erasable) instead. Ids are
# held to the unambiguous forms (an address with @, an international number, a French number
# with separators) so that numeric order or parcel ids pass; free text also to a bare French
# mobile number (06/07 and 8 digits), the form customers type in SMS replies.
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_ID = re.compile(
    r"(?<![\w+])(?:(?:\+|00)[1-9](?:[ .()/-]{0,2}\d){7,14}|0[1-9](?:[ .-]\d{2}){4})(?!\w)"
)
_PHONE_TEXT = re.compile(_PHONE_ID.pattern + r"|(?<![\w+])0[67]\d{8}(?!\w)")


def refuse_contact(name: str, value: str, phone: re.Pattern[str]) -> None:
    if _EMAIL.search(value):
        what = "an e-mail address"
    elif phone.search(value):
        what = "a phone number"
    else:
        return
    fail(
        f"{name} contains what looks like {what}: personal data must not be written into the "
        f"log's hashed, unerasable entry bytes; send it in `personal` (committed, sealed and "
        f"erasable), or leave it out",
        PERSONAL_DATA,
    )


def check_id(name: str, value: Any) -> str:
    """An identifier: non-empty, at most 128 characters, no control characters, no e-mail
    address or phone number."""
    refuse_contact(name, _string(name, value, MAX_ID_LENGTH), _PHONE_ID)
    return value


def check_text(name: str, value: Any) -> str:
    """Free text: non-empty, at most 1,024 characters, no control characters, no e-mail
    address or phone number."""
    refuse_contact(name, _string(name, value, MAX_TEXT_LENGTH), _PHONE_TEXT)
    return value


def check_role(name: str, value: Any) -> str:
    """The role of an evidence file: a short id, at most 64 characters."""
    return _string(name, value, MAX_ROLE_LENGTH)


def check_personal(name: str, value: Any) -> str:
    """A clear personal value: non-empty, at most 1,024 characters; tab, CR and LF allowed.

    Messages never quote the value: errors are logged and sent back, personal data must not be.
    """
    return _string(name, value, MAX_TEXT_LENGTH, _CONTROL_EXCEPT_BREAKS, show=json_kind)


def _string_schema(max_length: int, pattern: str = _NO_CONTROL_PATTERN, **extra: Any) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": pattern, **extra}


ID = Field(check_id, _string_schema(MAX_ID_LENGTH))
TEXT = Field(check_text, _string_schema(MAX_TEXT_LENGTH))
ROLE = Field(check_role, _string_schema(MAX_ROLE_LENGTH))
PERSONAL = Field(check_personal, _string_schema(MAX_TEXT_LENGTH, _NO_CONTROL_EXCEPT_BREAKS_PATTERN))


# --- case ids ------------------------------------------------------------------------------------

CASE_ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
_CASE_ID = re.compile(CASE_ID_PATTERN)
_CASE_ID_CHAR = re.compile(r"[A-Za-z0-9._:-]")


def check_case_id(name: str, value: Any) -> str:
    """A case id: `[A-Za-z0-9][A-Za-z0-9._:-]{0,127}` (ASCII only; safe in URLs and file names)."""
    if not isinstance(value, str):
        fail(f"{name} must be a string, got {got(value)}", WRONG_TYPE)
    if not value:
        fail(f"{name} must not be empty", EMPTY)
    if len(value) > MAX_ID_LENGTH:
        fail(f"{name} must be at most {MAX_ID_LENGTH} characters, got {len(value)}", TOO_LONG)
    if _CASE_ID.fullmatch(value) is None:
        if not _CASE_ID_CHAR.fullmatch(value[0]) or value[0] in "._:-":
            fail(f"{name} must start with an ASCII letter or digit, got {got(value)}", BAD_FORMAT)
        position = next(i for i, c in enumerate(value) if not _CASE_ID_CHAR.fullmatch(c))
        fail(
            f"{name} may contain only ASCII letters, digits and . _ : -, got "
            f"U+{ord(value[position]):04X} at position {position} of {got(value)}",
            BAD_FORMAT,
        )
    return value


CASE_ID = Field(
    check_case_id,
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LENGTH,
        "pattern": f"^{CASE_ID_PATTERN}$",
    },
)


# --- enumerations --------------------------------------------------------------------------------


def one_of(*allowed: str) -> Validator:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            fail(f"{name} must be a string, got {got(value)}", WRONG_TYPE)
        if value not in allowed:
            fail(f"{name} must be one of {', '.join(allowed)}, got {got(value)}", NOT_ALLOWED)
        return value

    return check


def enum(*allowed: str) -> Field:
    return Field(one_of(*allowed), {"type": "string", "enum": list(allowed)})


def check_currency(name: str, value: Any) -> str:
    """An ISO 4217 alphabetic code of a current currency, e.g. EUR."""
    if not isinstance(value, str):
        fail(f"{name} must be a string, got {got(value)}", WRONG_TYPE)
    if re.fullmatch(r"[A-Z]{3}", value) is None:
        fail(f"{name} must be an ISO 4217 code like EUR, got {got(value)}", BAD_FORMAT)
    if value not in CURRENCIES:
        fail(f"{name} must be a current ISO 4217 currency code, got {got(value)}", NOT_ALLOWED)
    return value


CURRENCY = Field(check_currency, {"type": "string", "enum": sorted(CURRENCIES)})


# --- integers ------------------------------------------------------------------------------------


def int_between(low: int, high: int) -> Validator:
    def check(name: str, value: Any) -> int:
        # type() rather than isinstance(): bool is a subclass of int, and true is not 1 here.
        if type(value) is not int:
            fail(f"{name} must be an integer, got {got(value)}", WRONG_TYPE)
        if not low <= value <= high:
            fail(f"{name} must be between {low} and {high}, got {got(value)}", OUT_OF_RANGE)
        return value

    return check


def integer(low: int, high: int) -> Field:
    return Field(int_between(low, high), {"type": "integer", "minimum": low, "maximum": high})


AMOUNT_CENTS = integer(0, MAX_AMOUNT_CENTS)
ATTEMPT = integer(1, MAX_ATTEMPT)
ACCURACY_M = integer(0, MAX_ACCURACY_M)


# --- decimal strings (coordinates) ---------------------------------------------------------------

# At most 3 integer digits without leading zeros, at most 10 decimals (sub-millimetre), no
# exponent and no '+': one spelling per value, short of trailing zeros, which are kept as sent.
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,2})(?:\.[0-9]{1,10})?")
_DECIMAL_RULE = "up to 3 integer digits without leading zeros, up to 10 decimals, no exponent"


def decimal_between(low: int, high: int) -> Validator:
    def check(name: str, value: Any) -> str:
        expected = f"{name} must be a decimal string between {low} and {high}"
        if not isinstance(value, str):
            fail(f"{expected}, got {got(value)}", WRONG_TYPE)
        if _DECIMAL.fullmatch(value) is None:
            fail(f"{expected} ({_DECIMAL_RULE}), got {got(value)}", BAD_FORMAT)
        if not low <= Decimal(value) <= high:
            fail(f"{expected}, got {got(value)}", OUT_OF_RANGE)
        return value

    return check


# The range written as a pattern, so that the schema says as much as the validator.
LATITUDE = Field(
    decimal_between(-90, 90),
    {
        "type": "string",
        "pattern": "^-?(90(\\.0{1,10})?|[1-8]?[0-9](\\.[0-9]{1,10})?)$",
        "description": 'decimal degrees between -90 and 90, e.g. "48.8566140"',
    },
)
LONGITUDE = Field(
    decimal_between(-180, 180),
    {
        "type": "string",
        "pattern": "^-?(180(\\.0{1,10})?|(1[0-7][0-9]|[1-9]?[0-9])(\\.[0-9]{1,10})?)$",
        "description": 'decimal degrees between -180 and 180, e.g. "2.3522219"',
    },
)


# --- hashes, dates, times ------------------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha256(name: str, value: Any) -> str:
    """A SHA-256 digest: exactly 64 lowercase hex digits."""
    if not isinstance(value, str):
        fail(f"{name} must be a string of 64 lowercase hex digits, got {got(value)}", WRONG_TYPE)
    if _SHA256.fullmatch(value) is None:
        if len(value) != 64:
            found = f"{len(value)} characters"
        elif re.fullmatch(r"[0-9a-fA-F]{64}", value):
            found = "upper-case hex"
        else:
            found = "non-hex characters"
        fail(f"{name} must be 64 lowercase hex digits, got {found}: {got(value)}", BAD_FORMAT)
    return value


_SHA256_SCHEMA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SHA256 = Field(check_sha256, _SHA256_SCHEMA)
EVIDENCE_SHA256 = Field(
    check_sha256,
    {
        **_SHA256_SCHEMA,
        "description": "SHA-256 of an evidence file uploaded first; must be listed in the "
        "event's evidence",
    },
)
FINGERPRINT_SHA256 = Field(
    check_sha256,
    {**_SHA256_SCHEMA, "description": "SHA-256 of a text kept elsewhere (not an evidence file)"},
)


def check_date(name: str, value: Any) -> str:
    """A calendar date `YYYY-MM-DD`, year 1970…9999 like times."""
    if not isinstance(value, str):
        fail(f"{name} must be a date string YYYY-MM-DD, got {got(value)}", WRONG_TYPE)
    # A regex first: date.fromisoformat also takes "20250301" and "2025-W09-6".
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) is None:
        fail(f"{name} must be a date YYYY-MM-DD, got {got(value)}", BAD_FORMAT)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be a valid calendar date, got {got(value)}", BAD_FORMAT)
    if day.year < 1970:
        fail(f"{name} must be in year 1970 or later, got {got(value)}", OUT_OF_RANGE)
    return value


DATE = Field(
    check_date, {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
)


def check_time(name: str, value: Any) -> str:
    """An RFC 3339 time with `Z` or an offset, returned in UTC (see `clock` for the rendering)."""
    expected = f"{name} must be an RFC 3339 time with 'Z' or an offset"
    if not isinstance(value, str):
        fail(f"{expected}, got {got(value)}", WRONG_TYPE)
    try:
        return normalise_rfc3339(value)
    except TimeFormatError as exc:
        fail(f"{expected}, got {got(value)} ({exc.reason})", exc.kind)


TIME = Field(
    check_time, {"type": "string", "format": "date-time", "pattern": RFC3339_SCHEMA_PATTERN}
)


# --- lists ---------------------------------------------------------------------------------------


def list_of(item: Validator, max_items: int, *, unique: bool = False) -> Validator:
    def check(name: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            fail(f"{name} must be an array, got {got(value)}", WRONG_TYPE)
        if len(value) > max_items:
            fail(f"{name} must have at most {max_items} items, got {len(value)}", TOO_LONG)
        result: list[Any] = []
        problems: list[Problem] = []
        for i, element in enumerate(value):
            try:
                result.append(item(f"{name}[{i}]", element))
            except Invalid as exc:
                problems.extend(replace(p, at=(i, *p.at)) for p in exc.problems)
        if unique and not problems:
            seen: set[Any] = set()
            for i, element in enumerate(result):
                if element in seen:
                    problems.append(Problem((i,), f"{name}[{i}] repeats {got(element)}", DUPLICATE))
                seen.add(element)
        if problems:
            raise Invalid(problems)
        return result

    return check


def list_field(item: Field, max_items: int, *, unique: bool = False) -> Field:
    schema: dict[str, Any] = {"type": "array", "items": dict(item.schema), "maxItems": max_items}
    if unique:
        schema["uniqueItems"] = True
    return Field(list_of(item.validator, max_items, unique=unique), schema)


MAX_ITEMS = 100
ITEMS = list_field(TEXT, MAX_ITEMS)
