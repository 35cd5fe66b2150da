"""Every log this server serves, each with its own Ledger, access journal, sequencer and
checkpointer (issue 14 "Many logs").

Every log of the database is started with the app (log 1 first, as it always was), so that each
log's checkpointer, time-stamper and witnessing run from the start: a checkpoint that
`temoin checkpoint` signs for a log no tenant uses gets its tokens and cosignatures too. A log
registered while the server runs (`temoin logs create`) is started by the watch below within
`WATCH_INTERVAL`, or by the first request of one of its tenants if that comes first; a log that
cannot be opened (its key files are the operator's to fix) is tried again on each request of its
tenants. Every log is kept until shutdown. Each log has its own writer thread and its own
signer: appends to two logs never wait for each other in this process, and each log's
checkpoints say its own origin and key.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from anyio import to_thread

from api.background import cancel
from api.checkpointer import Checkpointer
from api.problems import ProblemError
from ledger.access import AccessJournal
from ledger.ledger import Ledger
from ledger.logs import LogSet
from ledger.sequencer import Sequencer
from ledger.store.base import StoredCheckpoint
from ledger.store.migrations.v2 import LOG_ONE
from ledger.store.protocols import Store

logger = logging.getLogger("temoin.api")

# Seconds between two looks for logs registered while the server runs: one small query of the
# registry; a tenant of a new log that comes sooner starts it itself.
WATCH_INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class LogServices:
    """What the routes use of one log."""

    log_id: int
    ledger: Ledger
    journal: AccessJournal
    sequencer: Sequencer
    checkpointer: Checkpointer


class ServedLogs:
    """The logs of the database, started on first use; stopped in the lifespan's order."""

    def __init__(self, logs: LogSet, *, max_events: int, interval: float,
                 on_signed: Callable[[int], Callable[[StoredCheckpoint], None] | None],
                 on_started: Callable[[LogServices], Awaitable[None]] | None = None) -> None:
        self.logs = logs
        self.max_events = max_events
        self.interval = interval
        # What each log's checkpointer calls when it signed (by log id: metrics, timestamps
        # and witnesses of that log), and what learns that a log started (to time-stamp and
        # witness it too).
        self.on_signed = on_signed
        self.on_started = on_started
        self._served: dict[int, LogServices] = {}
        self._tenants: dict[str, int] = {}
        self._tenants_lock = threading.Lock()
        self._starting = anyio.Lock()
        self._stopping = False
        # Logs the watch tried and could not open: it says so once, then leaves them to their
        # tenants' requests (each of which tries again) instead of logging a traceback per round.
        self._given_up: set[int] = set()
        self._watch: asyncio.Task[None] | None = None

    @property
    def main(self) -> LogServices:
        return self._served[LOG_ONE]

    def started(self) -> list[LogServices]:
        return list(self._served.values())

    def store_of(self, log_id: int) -> Store | None:
        """The store of log `log_id` if started (any thread): what the projection follower
        reads through instead of opening a pool of its own for that log."""
        found = self._served.get(log_id)
        return found.ledger.store if found is not None else None

    async def of_tenant(self, tenant: str) -> LogServices:
        with self._tenants_lock:
            log_id = self._tenants.get(tenant)
        if log_id is None:
            # Kept once read: a tenant never moves to another log (ledger/logs.py).
            log_id = await to_thread.run_sync(self.logs.registry.tenant_log, tenant)
            with self._tenants_lock:
                self._tenants[tenant] = log_id
        return await self.start(log_id)

    async def start(self, log_id: int) -> LogServices:
        found = self._served.get(log_id)
        if found is not None:
            return found
        # One start per log: two first requests must not make two writers of one log.
        async with self._starting:
            found = self._served.get(log_id)
            if found is not None:
                return found
            if self._stopping:
                raise ProblemError(503, "the service is stopping; retry in a moment",
                                   headers={"Retry-After": "1"})
            try:
                found = await self._open(log_id)
            except Exception:
                if log_id == LOG_ONE:
                    raise  # start-up itself fails, as it always did
                # The key files of a log are the operator's to fix (docs/TRUST.md): say so
                # in the server's log, not to a tenant.
                logger.exception("log %d cannot be opened", log_id)
                raise ProblemError(
                    503, f"log {log_id} of this tenant cannot be opened now; the server's "
                         f"log says why", slug="log-not-served",
                ) from None
            self._served[log_id] = found
            logger.info("log %s ready; verifier key %s", found.ledger.origin,
                        found.ledger.key.verifier_key)
            if self.on_started is not None:
                await self.on_started(found)
            return found

    async def start_every_log(self) -> None:
        """Start every log of the database not started yet (at start-up, then each watch
        round). One that cannot be opened is logged and skipped: the other logs' tenants are
        served, its own get 503 until the operator fixes it."""
        ids = await to_thread.run_sync(self.logs.log_ids)
        for log_id in ids:
            if log_id in self._served or log_id in self._given_up:
                continue
            try:
                await self.start(log_id)
            except ProblemError:
                if self._stopping:
                    return
                self._given_up.add(log_id)  # start() logged why

    async def watch(self, interval: float = WATCH_INTERVAL) -> None:
        """From now on, start each log registered while the server runs."""
        self._watch = asyncio.create_task(self._watch_rounds(interval), name="temoin-log-watch")

    async def _watch_rounds(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.start_every_log()
            except Exception as exc:  # the database may be down for a while: next round
                logger.warning("looking for new logs failed (%s); retrying", exc)

    async def _open(self, log_id: int) -> LogServices:
        ledger = await to_thread.run_sync(self.logs.ledger, log_id)
        journal = await to_thread.run_sync(self.logs.journal, log_id)
        sequencer = Sequencer(ledger, max_events=self.max_events)
        checkpointer = Checkpointer(
            ledger, journal=journal, interval=self.interval,
            on_signed=self.on_signed(log_id),
        )
        try:
            await checkpointer.start()
        except BaseException:
            await to_thread.run_sync(sequencer.close)
            raise
        return LogServices(log_id, ledger, journal, sequencer, checkpointer)

    async def stop_checkpointers(self) -> None:
        """No log starts after this, and none signs any more."""
        await cancel(self._watch)
        self._watch = None
        async with self._starting:
            self._stopping = True
        for served in self.started():
            await served.checkpointer.stop()

    def close_sequencers(self) -> None:
        """Commits what is queued on every log and waits for it: no accepted append is
        dropped."""
        for served in self.started():
            served.sequencer.close()

    def close_stores(self) -> None:
        """The journals, then the ledgers of the logs other than 1 (log 1's is the app's)."""
        self.logs.close()
