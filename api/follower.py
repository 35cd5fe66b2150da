"""Keeps the read-side projections within a second of the log (DESIGN §7)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from anyio import to_thread

from projections.runner import ProjectionRunner

log = logging.getLogger("temoin.projections")


class ProjectionFollower:
    def __init__(self, runner: ProjectionRunner, *, interval: float = 0.5) -> None:
        self.runner = runner
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Catch up on whatever was appended while no server ran, before serving reads.
        await to_thread.run_sync(self.runner.catch_up)
        self._task = asyncio.create_task(self._run(), name="temoin-projections")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await to_thread.run_sync(self.runner.catch_up)
            except Exception as exc:  # a database hiccup must not end the follower
                # One line per failure, not a traceback every half second during an outage.
                log.warning("projection catch-up failed (%s); retrying", exc)
