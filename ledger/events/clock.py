"""RFC 3339 times: parsing, conversion to UTC and rendering.

Pure: nothing here reads a clock; callers pass `now`. Two renderings exist on purpose:

- `format_rfc3339_utc` always writes microseconds (`2025-03-01T09:00:00.000000Z`). `recorded_at`
  uses it, so every ledger timestamp has the same width and sorts as text.
- `format_rfc3339_utc_minimal` writes microseconds only when they are non-zero
  (`2025-03-01T09:00:00Z`, `2025-03-01T09:00:00.250000Z`). `occurred_at` uses it: a source that
  reports whole seconds keeps whole seconds, and the rendering depends only on the instant, never on
  how many fraction digits the source happened to send (".5" and ".500" give the same text).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from ledger.errors import ValidationError

MIN_YEAR = 1970
MAX_YEAR = 9999
MAX_FRACTION_DIGITS = 6

# RFC 3339 §5.6. ABNF literals are case-insensitive, hence [Tt] and [Zz]; the space separator that
# §5.6's note tolerates is refused, because strict input is the API's rule.
_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))"
)
_NO_ZONE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
)

# For JSON Schema (ECMA-262): the shape only; calendar validity and ranges are checked in code.
RFC3339_SCHEMA_PATTERN = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?"
    "([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


class TimeFormatError(ValidationError, ValueError):
    """A text is not an acceptable RFC 3339 time.

    `reason` completes a sentence such as "occurred_at must be ..., got '...' (<reason>)";
    `kind` is "bad_format" or "out_of_range".
    """

    def __init__(self, reason: str, kind: str = "bad_format") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time that has `Z` or a numeric offset; return it as an aware UTC datetime.

    Refused: no zone, more than 6 fraction digits (the ledger keeps microseconds and will not
    silently drop digits), leap second 60 (Python cannot represent it), impossible dates such as
    February 30, offsets beyond ±23:59, and instants whose UTC year is outside 1970…9999.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        if _NO_ZONE.fullmatch(text):
            raise TimeFormatError("no time zone: add 'Z' or an offset such as '+01:00'")
        raise TimeFormatError("not of the form YYYY-MM-DDTHH:MM:SS[.ffffff] then Z or ±HH:MM")
    fraction = match["fraction"] or ""
    if len(fraction) > MAX_FRACTION_DIGITS:
        raise TimeFormatError(f"more than {MAX_FRACTION_DIGITS} fractional second digits")
    if match["second"] == "60":
        raise TimeFormatError("leap second 60 is not supported")
    offset = timedelta(0)
    if match["utc"] is None:
        off_hour, off_minute = int(match["off_hour"]), int(match["off_minute"])
        if off_hour > 23 or off_minute > 59:
            raise TimeFormatError("offset beyond ±23:59")
        offset = timedelta(hours=off_hour, minutes=off_minute)
        if match["sign"] == "-":
            offset = -offset
    try:
        local = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int(fraction.ljust(MAX_FRACTION_DIGITS, "0")),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise TimeFormatError(f"not a valid date and time: {exc}") from None
    out_of_range = TimeFormatError(
        f"year must be between {MIN_YEAR} and {MAX_YEAR} in UTC", "out_of_range"
    )
    try:
        utc = local.astimezone(UTC)
    except OverflowError:
        # e.g. 9999-12-31T23:00:00-02:00, which is in year 10000 in UTC
        raise out_of_range from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise out_of_range
    return utc


def _require_aware(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TypeError(f"{name} must be a timezone-aware datetime, got naive {dt.isoformat()}")
    return dt.astimezone(UTC)


def _seconds_text(dt: datetime) -> str:
    # Explicit field widths: strftime("%Y") does not zero-pad years below 1000 on every platform.
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )


def format_rfc3339_utc(dt: datetime) -> str:
    """Render an aware datetime in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always microseconds)."""
    utc = _require_aware(dt, "dt")
    return f"{_seconds_text(utc)}.{utc.microsecond:06d}Z"


def format_rfc3339_utc_minimal(dt: datetime) -> str:
    """Render an aware datetime in UTC as `YYYY-MM-DDTHH:MM:SSZ`, or with `.ffffff` (6 digits) when
    its microseconds are non-zero."""
    utc = _require_aware(dt, "dt")
    if utc.microsecond:
        return f"{_seconds_text(utc)}.{utc.microsecond:06d}Z"
    return f"{_seconds_text(utc)}Z"


def normalise_rfc3339(text: str) -> str:
    """Parse an RFC 3339 time and render it in UTC with `format_rfc3339_utc_minimal`."""
    return format_rfc3339_utc_minimal(parse_rfc3339(text))


def too_far_ahead(at: datetime, now: datetime, max_skew: timedelta) -> bool:
    """True if `at` is more than `max_skew` after `now` (exactly `now + max_skew` is accepted)."""
    if max_skew < timedelta(0):
        raise ValueError(f"max_skew must not be negative, got {max_skew}")
    return _require_aware(at, "at") > _require_aware(now, "now") + max_skew
