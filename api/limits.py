"""Request limits of the HTTP service (API.md "Appending": limits are configurable)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from ledger.config import ConfigError

MIB = 2**20

T = TypeVar("T", int, float)


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_body: int = 65536
    max_batch_body: int = 8 * MIB
    max_batch_events: int = 1000
    max_evidence: int = 25 * MIB
    # Requests per second per API key (token bucket, burst of one second); None: no limit.
    rate_limit: float | None = None
    # How often, at most, the background task signs a checkpoint while the log grows (DESIGN §5).
    checkpoint_interval: float = 1.0
    # Free space a bundle download must leave on the data folder's disk once written; below
    # it the download is refused (507) rather than filling the disk the database lives on.
    bundle_disk_reserve: int = 256 * MIB

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if environ is None else environ
        default = cls()
        rate = _number(env, "TEMOIN_RATE_LIMIT", None, float)
        return cls(
            max_event_body=_number(env, "TEMOIN_MAX_EVENT_BODY", default.max_event_body, int),
            max_batch_body=_number(env, "TEMOIN_MAX_BATCH_BODY", default.max_batch_body, int),
            max_batch_events=_number(
                env, "TEMOIN_MAX_BATCH_EVENTS", default.max_batch_events, int
            ),
            max_evidence=_number(env, "TEMOIN_MAX_EVIDENCE", default.max_evidence, int),
            bundle_disk_reserve=_number(
                env, "TEMOIN_BUNDLE_DISK_RESERVE", default.bundle_disk_reserve, int
            ),
            # 0 switches the limit off, like leaving the variable unset.
            rate_limit=rate if rate else None,
        )


def _number(
    env: Mapping[str, str], name: str, default: T | None, kind: type[T]
) -> T | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {text!r}") from None
    if value < 0 or value != value:  # NaN compares unequal to itself
        raise ConfigError(f"{name} must not be negative, got {text!r}")
    if kind is int and value == 0:
        raise ConfigError(f"{name} must be at least 1, got {text!r}")
    return value
