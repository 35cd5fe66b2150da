"""Forgetting Idempotency-Key records on a schedule (issue 12 item 5).

API.md promises to keep a record at least 24 hours; after `TEMOIN_IDEMPOTENCY_TTL_HOURS`
(default 48, never under 24) it only keeps a fingerprint of a request nobody will retry.
Every server process runs the purge (once at start, then every `interval`): it is one
DELETE, harmless to repeat.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from datetime import timedelta

from anyio import to_thread

from api.background import cancel
from ledger.config import ConfigError
from ledger.ledger import Ledger

log = logging.getLogger("temoin.housekeeping")

DEFAULT_TTL_HOURS = 48
MIN_TTL_HOURS = 24


def idempotency_ttl(environ: Mapping[str, str] | None = None) -> timedelta:
    env = os.environ if environ is None else environ
    text = env.get("TEMOIN_IDEMPOTENCY_TTL_HOURS", str(DEFAULT_TTL_HOURS))
    try:
        hours = float(text)
    except ValueError:
        raise ConfigError(
            f"TEMOIN_IDEMPOTENCY_TTL_HOURS must be a number of hours, got {text!r}"
        ) from None
    if not hours >= MIN_TTL_HOURS:
        raise ConfigError(
            f"TEMOIN_IDEMPOTENCY_TTL_HOURS must be at least {MIN_TTL_HOURS} (API.md keeps "
            f"Idempotency-Key records 24 hours), got {text!r}"
        )
    return timedelta(hours=hours)


class IdempotencyPurger:
    def __init__(self, ledger: Ledger, ttl: timedelta, *, interval: float = 3600.0) -> None:
        self.ledger, self.ttl, self.interval = ledger, ttl, interval
        self.purged = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="temoin-idempotency-purge")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                self.purged += await to_thread.run_sync(self.ledger.purge_idempotency, self.ttl)
            except Exception:
                log.warning("could not purge old Idempotency-Key records; retrying later",
                            exc_info=True)
            await asyncio.sleep(self.interval)
