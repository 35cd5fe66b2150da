"""Keeps the read-side projections within a second of the log (DESIGN §7).

Two ways to run the same `ProjectionRunner` loop:
- `ProjectionFollower`, a thread of the server process (the default of `create_app`, and what
  tests use);
- `ProjectionProcess`, a child process (what `temoin serve` uses): the server is one Python
  process holding one GIL, and a follower inside it took 17% of that GIL under 500-event
  batches. In its own process it runs on the second core instead.
Both are safe to run next to any number of others: positions move by conditional update.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event

from anyio import to_thread

from api.background import cancel
from ledger.config import Settings
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
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await to_thread.run_sync(self.runner.catch_up)
            except Exception as exc:  # a database hiccup must not end the follower
                # One line per failure, not a traceback every half second during an outage.
                log.warning("projection catch-up failed (%s); retrying", exc)


def follow_forever(settings: Settings, interval: float, stop: Event, parent: int) -> None:
    """The child process: catch up every `interval` until told to stop or orphaned."""
    from ledger.application import CaseLog

    app = CaseLog(env=settings.persistence_env())
    runner = ProjectionRunner(app.store)
    failing = False
    try:
        # A server killed with SIGKILL cannot stop us: the parent id changes when it dies.
        while not stop.is_set() and os.getppid() == parent:
            try:
                runner.catch_up()
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("projection catch-up failed (%s); retrying", exc)
                failing = True
            stop.wait(interval)
    finally:
        app.close()


class ProjectionProcess:
    """Runs the follower loop in a child process and starts it again if it dies."""

    def __init__(self, runner: ProjectionRunner, settings: Settings, *,
                 interval: float = 0.5) -> None:
        self.runner = runner
        self.settings = settings
        self.interval = interval
        # spawn, not fork: the server already holds threads and database connections.
        self._ctx = multiprocessing.get_context("spawn")
        self._stop: Event = self._ctx.Event()
        self._child: SpawnProcess | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Catch up here first: reads served from the first request on are current.
        await to_thread.run_sync(self.runner.catch_up)
        self._spawn()
        self._watch = asyncio.create_task(self._watch_child(), name="temoin-projections")

    def _spawn(self) -> None:
        child = self._ctx.Process(
            target=follow_forever,
            args=(self.settings, self.interval, self._stop, os.getpid()),
            name="temoin-projections", daemon=True,
        )
        child.start()
        self._child = child

    async def _watch_child(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            child = self._child
            if child is None or child.is_alive():
                continue
            log.warning("projection follower exited with code %s; starting it again",
                        child.exitcode)
            # A child that dies at once (e.g. bad settings) is not restarted in a hot loop.
            if time.monotonic() - started < 5:
                await asyncio.sleep(5)
            started = time.monotonic()
            self._spawn()

    async def stop(self) -> None:
        await cancel(self._watch)
        self._watch = None
        child, self._child = self._child, None
        if child is None:
            return
        self._stop.set()
        await to_thread.run_sync(child.join, 10)
        if child.is_alive():
            child.terminate()
            await to_thread.run_sync(child.join, 5)
