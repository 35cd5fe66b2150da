"""The entry format `temoin.entry/v1` (DESIGN §2): what one Merkle leaf commits to.

An entry is built once, encoded canonically, stored verbatim and never re-serialised; readers
parse the stored bytes and never write them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ledger.canonical import CanonicalError, canonical_bytes, parse_canonical
from ledger.errors import VerificationError
from ledger.merkle import leaf_hash

FORMAT_V1 = "temoin.entry/v1"
FIELDS_V1 = frozenset(
    {
        "format", "log", "tenant", "case", "case_seq", "prev", "type", "occurred_at",
        "recorded_at", "source", "data", "personal", "evidence",
    }
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class EntryFormatError(VerificationError, ValueError):
    """Stored bytes are not a well-formed `temoin.entry/v1` entry."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A parsed entry; `raw` is the verbatim stored bytes and the only thing ever hashed."""

    raw: bytes
    log: str
    tenant: str
    case: str
    case_seq: int
    prev: str | None
    type: str
    occurred_at: str
    recorded_at: str
    source: str
    data: dict[str, Any]
    personal: dict[str, str]
    evidence: list[dict[str, Any]]

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.raw)


def build_entry(
    *,
    log: str,
    tenant: str,
    case: str,
    case_seq: int,
    prev: bytes | None,
    type: str,
    occurred_at: str,
    recorded_at: str,
    source: str,
    data: dict[str, Any],
    personal: dict[str, str],
    evidence: list[dict[str, Any]],
) -> bytes:
    """Encode a new entry; `personal` holds commitments (hex), never clear values."""
    if case_seq < 1:
        raise ValueError(f"case_seq must be >= 1, got {case_seq}")
    if (case_seq == 1) != (prev is None):
        raise ValueError("prev must be null exactly for the first entry of a case")
    return canonical_bytes(
        {
            "format": FORMAT_V1,
            "log": log,
            "tenant": tenant,
            "case": case,
            "case_seq": case_seq,
            "prev": None if prev is None else prev.hex(),
            "type": type,
            "occurred_at": occurred_at,
            "recorded_at": recorded_at,
            "source": source,
            "data": data,
            "personal": personal,
            "evidence": evidence,
        }
    )


def parse_entry(raw: bytes, *, trusted: bool = False) -> Entry:
    """Parse stored entry bytes, refusing anything that is not canonical v1.

    `trusted=True` skips the canonical re-encoding check, for bytes that `build_entry` has
    just produced or that the aggregate replays (it re-parsed every entry it had just built,
    ~30 µs an event on the append path); verification never uses it.
    """
    try:
        obj = orjson.loads(raw) if trusted else parse_canonical(raw)
    except orjson.JSONDecodeError as exc:
        raise EntryFormatError(f"entry is not JSON: {exc}") from exc
    except CanonicalError as exc:
        raise EntryFormatError(f"entry is not canonical JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise EntryFormatError(f"entry must be a JSON object, got {type(obj).__name__}")
    if obj.get("format") != FORMAT_V1:
        raise EntryFormatError(f"unknown entry format {obj.get('format')!r}, want {FORMAT_V1!r}")
    keys = set(obj)
    if keys != FIELDS_V1:
        missing, extra = sorted(FIELDS_V1 - keys), sorted(keys - FIELDS_V1)
        raise EntryFormatError(f"entry fields differ from v1: missing {missing}, extra {extra}")
    prev = obj["prev"]
    if prev is not None and not (isinstance(prev, str) and _HEX64.fullmatch(prev)):
        raise EntryFormatError(f"prev must be null or 64 lowercase hex digits, got {prev!r}")
    seq = obj["case_seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise EntryFormatError(f"case_seq must be an integer >= 1, got {seq!r}")
    for name in ("log", "tenant", "case", "type", "occurred_at", "recorded_at", "source"):
        if not isinstance(obj[name], str):
            raise EntryFormatError(f"{name} must be a string, got {obj[name]!r}")
    if not isinstance(obj["data"], dict) or not isinstance(obj["personal"], dict):
        raise EntryFormatError("data and personal must be objects")
    if not isinstance(obj["evidence"], list):
        raise EntryFormatError("evidence must be a list")
    return Entry(
        raw=raw,
        log=obj["log"],
        tenant=obj["tenant"],
        case=obj["case"],
        case_seq=seq,
        prev=prev,
        type=obj["type"],
        occurred_at=obj["occurred_at"],
        recorded_at=obj["recorded_at"],
        source=obj["source"],
        data=obj["data"],
        personal=obj["personal"],
        evidence=obj["evidence"],
    )
