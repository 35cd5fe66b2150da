"""Idempotency-Key handling (API.md "Appending").

The ledger stores the key's record and answer in the append's own transaction and replays it;
this module adds what only the HTTP layer can do: checking the header, fingerprinting the
request, and making concurrent requests with one key in this process wait for the first one,
so that they get its answer (200) instead of racing it. Across processes, the unique key in
the database plays that role: the loser's transaction conflicts and is retried as a replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from api.problems import ProblemError
from ledger.events.validate import FieldError

HEADER = "Idempotency-Key"
MAX_LENGTH = 255


def check_key(value: str | None) -> str | None:
    """The header's value, or None when absent; 422 unless 1-255 printable ASCII characters."""
    if value is None:
        return None
    if not value or len(value) > MAX_LENGTH or not all(" " <= c <= "~" for c in value):
        msg = (
            f"{HEADER} must be 1 to {MAX_LENGTH} printable ASCII characters "
            f"(got {len(value)} characters); a UUID is a good choice"
        )
        raise ProblemError(422, msg, errors=[FieldError(("header", HEADER), msg, "bad_format")])
    return value


def _request_text(route: str, case: str | None, body: Any) -> bytes:
    return json.dumps(
        {"route": route, "case": case, "body": body},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    ).encode("ascii")


def request_hash(route: str, case: str | None, body: Any, secret: bytes) -> str:
    """Fingerprint of what the request asks, independent of JSON key order and white space.

    Keyed (HMAC-SHA256 under a secret derived from the vault master key, which is not in the
    database): the body holds clear personal values, and a plain hash of a short value such as
    a phone number is reversed by trying every number.
    """
    return hmac.new(secret, _request_text(route, case, body), hashlib.sha256).hexdigest()


def legacy_request_hash(route: str, case: str | None, body: Any) -> str:
    """The unkeyed fingerprint of releases before the keyed one, still accepted for records
    they made (kept at least 24 hours, then purged)."""
    return hashlib.sha256(_request_text(route, case, body)).hexdigest()


class KeyLocks:
    """One asyncio lock per (tenant, key) in use; forgotten once nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, tenant: str, key: str) -> AsyncIterator[None]:
        name = (tenant, key)
        lock, users = self._locks.get(name, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
