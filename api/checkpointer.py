"""Signing checkpoints while the log grows (DESIGN §5).

A new checkpoint is signed within about one second of any append, and no more than once per
`interval`, so that an idle log costs nothing but one cheap size query per second and a busy
log one signature per second however many appends arrive. Appends in this process wake the
task at once; appends by other processes (the CLI, another server) are seen by the poll.

Readers of the latest checkpoint call `fresh()`: if the log grew and the newest checkpoint is
older than `interval`, it signs first, so an answer never misses an append older than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from anyio import to_thread

from api.background import cancel
from ledger.ledger import Ledger
from ledger.store.base import StoredCheckpoint

log = logging.getLogger("temoin.checkpointer")


def signed_at(checkpoint: StoredCheckpoint) -> datetime:
    return datetime.strptime(checkpoint.signed_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Checkpointer:
    def __init__(
        self,
        ledger: Ledger,
        *,
        interval: float = 1.0,
        on_signed: Callable[[StoredCheckpoint], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.interval = interval
        self.on_signed = on_signed
        self.latest: StoredCheckpoint | None = None
        self._last_sign = float("-inf")  # monotonic time of our last signature
        self._grew = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sign the first checkpoint (size 0 for an empty log), then keep signing."""
        await to_thread.run_sync(self._sign)
        self._task = asyncio.create_task(self._run(), name="temoin-checkpointer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    def notify(self) -> None:
        """The log grew (an append of this process committed): sign soon."""
        self._grew.set()

    async def fresh(self) -> StoredCheckpoint:
        """The latest checkpoint, signed now if the log grew and it is older than `interval`."""
        return await to_thread.run_sync(self._fresh)

    async def sign_now(self) -> StoredCheckpoint:
        """Sign now if the log grew (whatever the interval); the latest checkpoint."""
        return await to_thread.run_sync(self._sign)

    # -- in worker threads ------------------------------------------------------------------
    def _remember(self, checkpoint: StoredCheckpoint, *, signed: bool) -> StoredCheckpoint:
        if self.latest is None or checkpoint.size >= self.latest.size:
            self.latest = checkpoint
        if signed:
            self._last_sign = time.monotonic()
        if self.on_signed is not None:
            self.on_signed(checkpoint)
        return checkpoint

    def _sign(self) -> StoredCheckpoint:
        # Ledger.sign_checkpoint returns the latest one unchanged when the tree did not grow.
        return self._remember(self.ledger.sign_checkpoint(), signed=True)

    def _fresh(self) -> StoredCheckpoint:
        store = self.ledger.store
        latest = store.latest_checkpoint()
        if latest is None:
            return self._sign()
        age = (datetime.now(UTC) - signed_at(latest)).total_seconds()
        if age >= self.interval and store.tree_size() > latest.size:
            return self._sign()
        return self._remember(latest, signed=False)

    def _sign_if_grown(self) -> None:
        size = self.ledger.store.tree_size()
        if self.latest is not None and size <= self.latest.size:
            return
        self._sign()

    # -- the background task ------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._grew.wait(), timeout=self.interval)
            self._grew.clear()
            wait = self._last_sign + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await to_thread.run_sync(self._sign_if_grown)
            except Exception:
                # The database may be down for a while; keep trying, but say so once a second
                # at most (the loop's own pace).
                log.warning("could not sign a checkpoint; retrying", exc_info=True)
