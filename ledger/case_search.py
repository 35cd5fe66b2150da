"""Listing a tenant's cases: parameters checked, keyset pages, opaque cursors.

Shared by `GET /v1/cases` and `temoin cases`. Pages come from the case index (a projection of
the log, `store.find_cases`), in case id order. A page's cursor holds the last case id it
returned; the next page starts strictly after it, so a listing returns each case exactly once
even while cases are opened between pages (a case opened behind the cursor is simply not in
this listing; one opened ahead of it is).

The cursor is base64url JSON, not encrypted and not secret: it names the tenant and a digest of
the filters it was issued for, and is refused (`CaseQueryError`, field `cursor`) with another
tenant or other filters. It cannot widen what a caller sees: the tenant and a lawyer's cases
are applied on every page from the key, never from the cursor.

`q` searches case ids only (a case-insensitive substring); nothing here reads personal data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.errors import ValidationError
from ledger.events.clock import TimeFormatError, format_rfc3339_utc, parse_rfc3339
from ledger.store.projection_tables import CaseQuery
from ledger.store.protocols import ProjectionReader

STATUSES = ("open", "closed")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
PARAMETERS = ("status", "opened_after", "opened_before", "q", "cursor", "limit")
_Q = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CURSOR_VERSION = 1
MAX_CURSOR = 1024


class CaseQueryError(ValidationError, ValueError):
    """A bad listing parameter; `field` names it, `kind` is a problem error type."""

    def __init__(self, field: str, message: str, kind: str = "bad_format") -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind


@dataclass(frozen=True, slots=True)
class CasePage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _time(name: str, value: str) -> str:
    try:
        return format_rfc3339_utc(parse_rfc3339(value))
    except TimeFormatError as exc:
        raise CaseQueryError(
            name, f"{name} must be an RFC 3339 time such as 2025-03-01T00:00:00Z, got "
            f"{value[:60]!r} ({exc.reason})", exc.kind) from None


@dataclass(frozen=True, slots=True)
class Filters:
    status: str | None = None
    opened_from: str | None = None
    opened_until: str | None = None
    contains: str | None = None

    def digest(self) -> str:
        text = json.dumps([self.status, self.opened_from, self.opened_until, self.contains])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_filters(status: str | None = None, opened_after: str | None = None,
                  opened_before: str | None = None, q: str | None = None) -> Filters:
    """Check the filters; an empty parameter (`?status=`) is refused rather than ignored."""
    if status is not None and status not in STATUSES:
        raise CaseQueryError("status", f"status must be one of {', '.join(STATUSES)}, got "
                             f"{status[:40]!r}")
    start = None if opened_after is None else _time("opened_after", opened_after)
    end = None if opened_before is None else _time("opened_before", opened_before)
    if start is not None and end is not None and start >= end:
        raise CaseQueryError("opened_before", f"opened_before ({opened_before}) must be later "
                             f"than opened_after ({opened_after})", "out_of_range")
    if q is not None and _Q.fullmatch(q) is None:
        raise CaseQueryError("q", "q searches case ids: 1 to 128 ASCII letters, digits and "
                             f". _ : -, got {q[:40]!r}")
    return Filters(status, start, end, q)


def encode_cursor(tenant: str, filters: Filters, last_case: str) -> str:
    raw = json.dumps({"v": _CURSOR_VERSION, "t": tenant, "f": filters.digest(), "a": last_case},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, tenant: str, filters: Filters) -> str:
    """The case id a cursor resumes after, if it was issued to this tenant for these filters."""
    bad = CaseQueryError("cursor", "cursor is not one this service issued: pass next_cursor "
                         "from the previous page unchanged, or leave it out to start again")
    if not cursor or len(cursor) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise bad
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not (isinstance(value, dict) and value.get("v") == _CURSOR_VERSION
            and isinstance(value.get("t"), str) and isinstance(value.get("f"), str)
            and isinstance(value.get("a"), str) and value["a"]):
        raise bad
    if value["t"] != tenant:
        raise CaseQueryError("cursor", "this cursor was issued to another tenant; start again "
                             "without cursor")
    if value["f"] != filters.digest():
        raise CaseQueryError("cursor", "this cursor was issued for other filters (status, "
                             "opened_after, opened_before, q): repeat the same filters with it, "
                             "or start again without cursor")
    return str(value["a"])


def check_parameters(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(PARAMETERS))
    if unknown:
        raise CaseQueryError(unknown[0], f"unknown parameter {unknown[0][:40]!r} (parameters: "
                             f"{', '.join(PARAMETERS)})", "unknown_field")


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    case, status, entries, last_seq, opened_at, closed_at = row
    return {"case": case, "status": status, "entries": int(entries), "last_seq": int(last_seq),
            "opened_at": opened_at, "closed_at": closed_at}


def list_cases(store: ProjectionReader, tenant: str, filters: Filters, *, cursor: str | None = None,
               limit: int = DEFAULT_LIMIT, only: frozenset[str] | None = None) -> CasePage:
    """One page of a tenant's cases (`only`: a lawyer's cases) matching `filters`."""
    after = None if cursor is None else decode_cursor(cursor, tenant, filters)
    rows = store.find_cases(CaseQuery(
        tenant=tenant, after=after, status=filters.status, opened_from=filters.opened_from,
        opened_until=filters.opened_until, contains=filters.contains, only=only,
        limit=limit + 1,  # one more tells whether another page exists
    ))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(tenant, filters, rows[-1][0]) if more else None
    return CasePage([_item(r) for r in rows], next_cursor)

