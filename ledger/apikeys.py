"""API keys (API.md "Authentication", DESIGN §8): creation, parsing and checking of tokens.

A token is `tm_<key id>_<secret>`: the key id (`key_` + 12 hex) is public and is what entries
record as `source`; the secret is 32 random bytes, URL-safe base64 without padding. Only the
SHA-256 of the whole token is stored, so a copy of the database cannot be used to call the API.
The id inside the token lets a lookup fetch exactly one row, then compare hashes in constant time.

Pure functions plus two store calls (`insert_api_key`, `api_key`); no clock except `created_at`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.errors import ValidationError
from ledger.events.fields import CASE_ID_PATTERN
from ledger.store.protocols import ApiKeyReader, ApiKeys

ROLES = ("appender", "auditor", "lawyer", "admin")
MAX_LAWYER_CASES = 1000

# 32 bytes in unpadded URL-safe base64 are exactly 43 characters.
_TOKEN = re.compile(r"tm_(key_[0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_TENANT = re.compile(CASE_ID_PATTERN)
_CASE = re.compile(CASE_ID_PATTERN)


class KeyRequestError(ValidationError, ValueError):
    """A key cannot be created as asked; `field` names the bad argument (role, tenant, cases)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A checked key: who is calling. `cases` is empty except for lawyers."""

    id: str
    role: str
    tenant: str
    cases: frozenset[str]
    created_at: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


def new_token(key_id: str) -> str:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return f"tm_{key_id}_{secret}"


def parse_token(token: str) -> str | None:
    """The key id inside a well-formed token, else None."""
    match = _TOKEN.fullmatch(token)
    return match.group(1) if match else None


def check_key_request(role: str, tenant: str, cases: Iterable[str] | None) -> tuple[str, ...]:
    """Refuse an impossible key (with a message saying what to change); return its case list."""
    if role not in ROLES:
        raise KeyRequestError("role", f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(tenant, str) or _TENANT.fullmatch(tenant) is None:
        raise KeyRequestError(
            "tenant",
            "tenant must be 1 to 128 ASCII letters, digits and . _ : -, starting with a letter "
            f"or digit, got {tenant!r}",
        )
    listed = tuple(dict.fromkeys(cases or ()))  # de-duplicated, order kept
    if role == "lawyer":
        if not listed:
            raise KeyRequestError(
                "cases", "a lawyer key reads given cases only: name at least one case"
            )
        if len(listed) > MAX_LAWYER_CASES:
            raise KeyRequestError(
                "cases", f"a lawyer key may name at most {MAX_LAWYER_CASES} cases, "
                f"got {len(listed)}"
            )
        for case in listed:
            if not isinstance(case, str) or _CASE.fullmatch(case) is None:
                raise KeyRequestError(
                    "cases",
                    "each case must be 1 to 128 ASCII letters, digits and . _ : -, starting "
                    f"with a letter or digit, got {case!r}",
                )
    elif listed:
        raise KeyRequestError(
            "cases", f"only lawyer keys are limited to cases; a {role} key sees its whole tenant"
        )
    return listed


def create_key(
    store: ApiKeys, role: str, tenant: str, cases: Sequence[str] | None = None
) -> tuple[str, str]:
    """Create and store a key; return (public id, token). The token is never retrievable again."""
    listed = check_key_request(role, tenant, cases)
    key_id = new_key_id()
    token = new_token(key_id)
    created_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store.insert_api_key(
        key_id, hash_token(token), role, tenant, json.dumps(list(listed)), created_at
    )
    return key_id, token


def authenticate(store: ApiKeyReader, token: str) -> ApiKey | None:
    """The key a token belongs to, or None for a malformed, unknown or wrong token."""
    key_id = parse_token(token)
    if key_id is None:
        return None
    row = store.api_key(key_id)
    if row is None:
        return None
    token_hash, role, tenant, cases, created_at = row
    # Constant time, so that response timing says nothing about how much of a guess was right.
    if not hmac.compare_digest(token_hash, hash_token(token)):
        return None
    return ApiKey(key_id, role, tenant, frozenset(json.loads(cases)), created_at)
