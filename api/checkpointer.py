"""Signing checkpoints while the log grows (DESIGN §5).

A new checkpoint is signed within about one second of any append, and no more than once per
`interval`, so that an idle log costs nothing but one cheap size query per second and a busy
log one signature per second however many appends arrive. Appends in this process wake the
task at once; appends by other processes (the CLI, another server) are seen by the poll.

Readers never sign: a read that must be proven against every entry appended before it (a
report, a bundle) calls `covering()`, and `GET /v1/log/checkpoint` calls `fresh()` (if the log
grew and the newest checkpoint is older than `interval`); both wake this task, which signs at
once rather than at its pace, and wait for it. So a GET writes nothing but the access journal,
and every signature comes from one place. If the task's attempt fails (a database locked for
longer than its lock timeout), the waiting readers get that error (503 `busy`); if no
checkpoint comes in time at all, 503 `not-yet-checkpointed`, both with Retry-After.

The access journal's tree head is signed at the same pace (reads grow it; the poll sees them).
Every signature is first proven consistent with the signer state file (ledger/signer_state.py),
and while the log does not grow the poll still checks, cheaply, that the database extends it. On
a fork (`SignerStateError`) the checkpointer keeps the error in `refusing`: from then on
`/healthz`, appends and checkpoints answer 503 naming both tree heads, until an operator has
recovered (docs/TRUST.md) and restarted the server.
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
from api.problems import ProblemError
from ledger.access import AccessJournal
from ledger.ledger import Ledger
from ledger.signer_state import SignerStateError
from ledger.store.base import StoredCheckpoint

log = logging.getLogger("temoin.checkpointer")


def signed_at(checkpoint: StoredCheckpoint) -> datetime:
    return datetime.strptime(checkpoint.signed_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Checkpointer:
    def __init__(
        self,
        ledger: Ledger,
        *,
        journal: AccessJournal | None = None,
        interval: float = 1.0,
        on_signed: Callable[[StoredCheckpoint], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.journal = journal
        self.refusing: SignerStateError | None = None
        self._journal_size = -1  # the access journal's size at its last signature
        self.interval = interval
        self.on_signed = on_signed
        self.latest: StoredCheckpoint | None = None
        self._last_sign = float("-inf")  # monotonic time of our last signature
        self._grew = asyncio.Event()
        # Set by a reader waiting for a checkpoint: sign now, not at the interval's pace.
        self._urgent = asyncio.Event()
        self._signed = asyncio.Event()  # replaced after each signature; readers wait on it
        self._loop: asyncio.AbstractEventLoop | None = None
        # The task's last failure (monotonic time, error), answered to the readers waiting
        # then: a locked database is 503 `busy` as soon as the task's own wait ran out.
        self._failure: tuple[float, Exception] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sign the first checkpoint (size 0 for an empty log), then keep signing.

        This is also the check before serving: a database that forked from the signer state
        leaves the server up but refusing (503), so that the problem is visible."""
        self._loop = asyncio.get_running_loop()
        try:
            await to_thread.run_sync(self._sign)
            await to_thread.run_sync(self._sign_journal)
        except SignerStateError:
            pass  # already in self.refusing and in the log
        self._task = asyncio.create_task(self._run(), name="temoin-checkpointer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    def notify(self) -> None:
        """The log grew (an append of this process committed): sign soon."""
        self._grew.set()

    async def fresh(self) -> StoredCheckpoint:
        """The latest checkpoint, signed (by the task) first if the log grew and it is older
        than `interval`."""
        self.check_open()
        latest, size = await to_thread.run_sync(self._latest_and_size)
        if latest is None or (size > latest.size and (
                datetime.now(UTC) - signed_at(latest)).total_seconds() >= self.interval):
            return await self._wait_for(size)
        return self._remember(latest, signed=False)

    async def covering(self) -> StoredCheckpoint:
        """The latest checkpoint once it covers every entry appended before this call."""
        self.check_open()
        latest, size = await to_thread.run_sync(self._latest_and_size)
        if latest is not None and latest.size >= size:
            return latest
        return await self._wait_for(size)

    async def _wait_for(self, size: int) -> StoredCheckpoint:
        """Wake the task and wait until it has signed a checkpoint of at least `size`."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        deadline = loop.time() + self.ledger.settings.lock_timeout + 2 * self.interval
        while True:
            latest = self.latest
            if latest is not None and latest.size >= size:
                return latest
            self.check_open()
            failure = self._failure
            if failure is not None and failure[0] >= started:
                raise failure[1]
            left = deadline - loop.time()
            if left <= 0 or self._task is None:
                raise ProblemError(
                    503, f"no checkpoint covers the log's {size} entries yet (the database is "
                    "busy); retry in a moment", slug="not-yet-checkpointed",
                    headers={"Retry-After": "1"})
            signed = self._signed
            self._urgent.set()
            self._grew.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signed.wait(), timeout=min(left, self.interval))

    async def sign_now(self) -> StoredCheckpoint:
        """Sign now if the log grew (whatever the interval); the latest checkpoint."""
        return await to_thread.run_sync(self._sign)

    def check_open(self) -> None:
        """Raise the fork error if this server refuses to extend its log (cheap: a flag)."""
        if self.refusing is not None:
            raise self.refusing

    # -- in worker threads ------------------------------------------------------------------
    def _refuse(self, exc: SignerStateError) -> None:
        if self.refusing is None:
            log.error("REFUSING appends, reads and checkpoints: %s", exc)
        self.refusing = exc
        if self.journal is not None:
            self.journal.refusing = exc

    def _guarded(self, action: Callable[[], StoredCheckpoint | None]) -> StoredCheckpoint | None:
        self.check_open()
        try:
            return action()
        except SignerStateError as exc:
            self._refuse(exc)
            raise

    def _latest_and_size(self) -> tuple[StoredCheckpoint | None, int]:
        store = self.ledger.store
        return store.latest_checkpoint(), store.tree_size()

    def _remember(self, checkpoint: StoredCheckpoint, *, signed: bool) -> StoredCheckpoint:
        if self.latest is None or checkpoint.size >= self.latest.size:
            self.latest = checkpoint
        if signed:
            self._last_sign = time.monotonic()
            self._failure = None
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                    self._loop.call_soon_threadsafe(self._wake_readers)
        if self.on_signed is not None:
            self.on_signed(checkpoint)
        return checkpoint

    def _sign(self) -> StoredCheckpoint:
        # Ledger.sign_checkpoint returns the latest one unchanged when the tree did not grow.
        checkpoint = self._guarded(self.ledger.sign_checkpoint)
        assert checkpoint is not None
        return self._remember(checkpoint, signed=True)

    def _sign_journal(self) -> None:
        journal = self.journal
        if journal is None:
            return
        signed = self._guarded(journal.sign_checkpoint)
        assert signed is not None
        self._journal_size = signed.size

    def _wake_readers(self) -> None:
        signed, self._signed = self._signed, asyncio.Event()
        signed.set()

    def _sign_if_grown(self) -> None:
        size = self.ledger.store.tree_size()
        if self.latest is not None and size <= self.latest.size:
            # Idle: still check, with two small queries, that nobody rewrote or rolled back
            # the database behind our back.
            self._guarded(self._verify_idle)
        else:
            self._sign()
        if self.journal is not None:
            if self.journal.store.tree_size() > self._journal_size:
                self._sign_journal()
            else:
                self._guarded(self._verify_journal_idle)

    def _verify_idle(self) -> None:
        self.ledger.verify_state()

    def _verify_journal_idle(self) -> None:
        assert self.journal is not None
        self.journal.verify_state()

    # -- the background task ------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._grew.wait(), timeout=self.interval)
            self._grew.clear()
            wait = self._last_sign + self.interval - time.monotonic()
            if wait > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), timeout=wait)
            self._urgent.clear()
            if self.refusing is not None:
                continue  # nothing more to sign or check until an operator recovers
            try:
                await to_thread.run_sync(self._sign_if_grown)
            except SignerStateError:
                pass  # in self.refusing and in the log already
            except Exception as exc:
                # The database may be down for a while; keep trying, but say so once a second
                # at most (the loop's own pace).
                log.warning("could not sign a checkpoint; retrying", exc_info=True)
                self._failure = (time.monotonic(), exc)
                self._wake_readers()
