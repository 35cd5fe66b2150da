"""Commitments to personal values (DESIGN §2): HMAC-SHA256(key=salt, msg=UTF-8 value).

A 32-byte random salt makes the commitment hiding (a phone number cannot be guessed by
hashing all phone numbers) while the opening (value, salt) still proves what was recorded.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

SALT_SIZE = 32


@dataclass(frozen=True, slots=True)
class Opening:
    value: str
    salt: bytes

    def commitment(self) -> str:
        return commit(self.value, self.salt)

    def to_json(self) -> dict[str, str]:
        return {"value": self.value, "salt": self.salt.hex()}


def commit(value: str, salt: bytes) -> str:
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}")
    return hmac.digest(salt, value.encode("utf-8"), "sha256").hex()


def new_opening(value: str) -> Opening:
    return Opening(value=value, salt=os.urandom(SALT_SIZE))


def check_opening(opening: Opening, commitment: str) -> None:
    """Raise ValueError naming both values if the opening does not match the commitment."""
    got = opening.commitment()
    if not hmac.compare_digest(got, commitment):
        raise ValueError(f"opening commits to {got}, entry holds {commitment}")
