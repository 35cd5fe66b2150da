"""Keeps the read-side projections of every log within a second of the log (DESIGN §7).

Every log of the database has its own projections (schema version 3); one loop runs them all
(`EveryLogRunner`: a `ProjectionRunner` per log, the logs listed again at each round). Two ways
to run that loop:
- `ProjectionFollower`, a thread of the server process (the default of `create_app`, and what
  tests use);
- `ProjectionProcess`, a child process (what `temoin serve` uses): the server is one Python
  process holding one GIL, and a follower inside it took 17% of that GIL under 500-event
  batches. In its own process it runs on the second core instead.
Both are safe to run next to any number of others: positions move by conditional update.
The child ends when the server closes the pipe to it (or dies), or on SIGTERM / SIGINT, so a
signal to the whole process group (systemd's stop, Ctrl-C) ends both promptly (docs/DEPLOY.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from types import FrameType

from anyio import to_thread

from api.background import cancel
from api.problems import ProblemError
from ledger.config import Settings
from projections.runner import EveryLogRunner, ProjectionRunner

log = logging.getLogger("temoin.projections")


class ProjectionFollower:
    def __init__(self, runner: EveryLogRunner, *, interval: float = 0.5) -> None:
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


# How a follower ends when SIGTERM or SIGINT reaches it: 128 + the signal number, as a shell
# reports it. Both reach it along with the server when the whole process group is signalled
# (systemd's default stop, Ctrl-C in a terminal).
STOPPED_BY_SIGNAL = frozenset({128 + signal.SIGTERM, 128 + signal.SIGINT,
                               -signal.SIGTERM, -signal.SIGINT})
# Seconds before a follower stopped by a signal is started again: long enough for a server
# stopped by the same signal to reach its own shutdown (which cancels the restart), instead of
# spawning a process only to stop it.
RESTART_AFTER_SIGNAL = 10.0
# Seconds a stopping server waits for its follower at each step: end of its pipe, SIGTERM,
# SIGKILL. Together well under systemd's stop timeout.
STOP_WAIT = (2.0, 1.0, 1.0)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the `finally` below, closing the database connections; an
    # interrupted chunk is rolled back with its position, so it is applied once, later.
    raise SystemExit(128 + signum)


def follow_forever(settings: Settings, interval: float, stop: Connection, parent: int) -> None:
    """The child process: apply the log's new entries until told to stop or orphaned.

    Told to stop means a message on `stop` or the end of that pipe: the server closes its end
    when it stops, and the kernel closes it when the server dies, even by SIGKILL. No lock or
    semaphore is shared with the server: a child killed while holding one would leave the
    server blocked for good when it tries to stop it (what multiprocessing.Event did when
    systemd's SIGTERM reached both).
    """
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    from ledger.log_stores import LogStores

    stores = LogStores(settings)
    runner = EveryLogRunner(stores)
    failing = False
    try:
        # getppid: a belt to the pipe's braces (the parent id changes when the server dies).
        while os.getppid() == parent and not stop.poll(0):
            try:
                # One chunk (of each log) at a time, so a stop request is seen between chunks
                # of a backlog.
                applied = runner.run_once()
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("projection catch-up failed (%s); retrying", exc)
                failing, applied = True, 0
            if not applied and stop.poll(interval):
                break
    finally:
        stores.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the disposition alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ProjectionProcess:
    """Runs the follower loop in a child process and starts it again if it dies."""

    def __init__(self, runner: EveryLogRunner, settings: Settings, *,
                 interval: float = 0.5) -> None:
        self.runner = runner
        self.settings = settings
        self.interval = interval
        # spawn, not fork: the server already holds threads and database connections.
        self._ctx = multiprocessing.get_context("spawn")
        self._child: SpawnProcess | None = None
        self._stop: Connection | None = None  # our end of the child's pipe
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Catch up here first: reads served from the first request on are current.
        await to_thread.run_sync(self.runner.catch_up)
        self._spawn()
        self._watch = asyncio.create_task(self._watch_child(), name="temoin-projections")

    def _spawn(self) -> None:
        if self._stop is not None:
            self._stop.close()
        reader, writer = self._ctx.Pipe(duplex=False)
        child = self._ctx.Process(
            target=follow_forever,
            args=(self.settings, self.interval, reader, os.getpid()),
            name="temoin-projections", daemon=True,
        )
        # The child starts with SIGINT ignored (an ignored signal survives exec) until
        # `follow_forever` installs its handlers: a Ctrl-C to the group while it is still
        # importing (holidays takes a moment) would print a KeyboardInterrupt traceback.
        # SIGTERM keeps its default: the child dies silently, and the server stops as usual.
        with _sigint_ignored():
            child.start()
        # The child has its own copy now; ours would keep the pipe open after we die.
        reader.close()
        self._child, self._stop = child, writer

    async def _watch_child(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            child = self._child
            if child is None or child.is_alive():
                continue
            if child.exitcode in STOPPED_BY_SIGNAL:
                # Most likely the whole process group was signalled and this server is about
                # to stop as well; if not (the child alone was), it comes back a bit later.
                delay = RESTART_AFTER_SIGNAL
            elif time.monotonic() - started < 5:
                delay = 5.0  # a child that dies at once (bad settings) is not a hot loop
            else:
                delay = 0.0
            log.warning("projection follower exited with code %s; starting it again in "
                        "%.0f s unless the server is stopping", child.exitcode, delay)
            await asyncio.sleep(delay)
            started = time.monotonic()
            self._spawn()

    async def stop(self) -> None:
        await cancel(self._watch)
        self._watch = None
        child, self._child = self._child, None
        if self._stop is not None:
            self._stop.close()  # end of file for the child: never blocks, whatever its state
            self._stop = None
        if child is not None:
            await to_thread.run_sync(_end, child)


def _end(child: SpawnProcess) -> None:
    """Wait for a follower told to stop; SIGTERM, then SIGKILL, if it does not."""
    pipe, term, kill = STOP_WAIT
    child.join(pipe)
    if child.is_alive():
        log.warning("projection follower %s still running %.0f s after the stop request; "
                    "sending SIGTERM", child.pid, pipe)
        child.terminate()
        child.join(term)
    if child.is_alive():
        log.warning("projection follower %s ignored SIGTERM; sending SIGKILL", child.pid)
        child.kill()
        child.join(kill)


# How long a read waits for the follower before answering 503: a follower keeps up within a
# second; longer means it is failing (its log says why).
CATCH_UP_WAIT = 10.0
_POLL = 0.02


async def caught_up(runner: ProjectionRunner, timeout: float = CATCH_UP_WAIT) -> None:
    """Wait until the follower (thread or process) has applied every entry of `runner`'s log
    appended before this call. A read waits for the projections; it never applies them
    itself, which would be a write."""
    size = await to_thread.run_sync(runner.store.tree_size)
    deadline = time.monotonic() + timeout
    while await to_thread.run_sync(runner.position) < size:
        if time.monotonic() >= deadline:
            raise ProblemError(503, f"the case index has not yet caught up with the log's "
                               f"{size} entries; retry in a moment", slug="projections-behind",
                               headers={"Retry-After": "1"})
        await asyncio.sleep(_POLL)
