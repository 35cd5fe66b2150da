"""The Témoin HTTP service (API.md): `create_app()` builds it, `temoin serve` runs it.

The app's lifespan owns the long-lived parts: per log (api/log_services.py), the Ledger
(database, keys, evidence folder), the Sequencer (the one writer thread doing group commits)
and the Checkpointer (signs a checkpoint within a second of appends). Routes only parse, check
access and call those of the caller's tenant's log (api/logs.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Literal

from anyio import to_thread
from fastapi import FastAPI

from api.checkpointer import signed_at
from api.deps import RateLimiter, Services
from api.drain import threads_idle
from api.follower import ProjectionFollower, ProjectionProcess
from api.housekeeping import IdempotencyPurger, idempotency_ttl
from api.limits import Limits
from api.log_services import LogServices, ServedLogs
from api.metrics import Metrics, MetricsMiddleware
from api.openapi import install_openapi
from api.problems import InternalErrorMiddleware, install_exception_handlers
from api.routes import (
    batches,
    case_list,
    case_views,
    cases,
    evidence,
    health,
    key_admin,
    keys,
    log,
)
from api.routes.viewer import install_viewer
from api.startup_errors import CleanStartupFailure
from api.timestamper import TimestampConfig, Timestamper
from api.witnessing import Witnessing, WitnessSettings
from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.log_stores import LogStores
from ledger.logs import LogSet
from ledger.store.base import StoredCheckpoint
from ledger.store.migrations.v2 import LOG_ONE
from projections.runner import EveryLogRunner

logger = logging.getLogger("temoin.api")

# How long shutdown waits for request threads that outlived their cancelled requests: a
# statement is bounded by TEMOIN_STATEMENT_TIMEOUT, but systemd and the tests allow 5 s in all.
DRAIN_SECONDS = 1.5

DESCRIPTION = """\
Témoin records the facts of e-commerce disputes in an RFC 9162 Merkle log with signed C2SP
checkpoints, so that each fact can later be proven to a judge, a mediator or an auditor.

Every `/v1` route needs `Authorization: Bearer <token>`. Every failure is
`application/problem+json` (RFC 9457). Hashes are lowercase hex; times RFC 3339 UTC.
"""


def label(kind: str, log_id: int) -> str:
    """The name of a log in the TSAs' and witnesses' metrics and health: "log" and "access"
    for log 1 (as before several logs), "log-N" and "access-N" for log N."""
    return kind if log_id == LOG_ONE else f"{kind}-{log_id}"


def _version() -> str:
    try:
        return metadata.version("temoin")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def create_app(
    settings: Settings | None = None, *, limits: Limits | None = None,
    projections: Literal["thread", "process"] = "thread",
    timestamps: TimestampConfig | None = None,
    witnesses: WitnessSettings | None = None,
) -> FastAPI:
    """The ASGI app. Settings and limits default to the environment (`TEMOIN_*`).

    `projections="process"` keeps the read side current from a child process (what
    `temoin serve` does) instead of a thread of this one, so that it uses another core.
    """
    settings = settings or Settings.from_env()
    limits = limits or Limits.from_env()
    ttl = idempotency_ttl()
    # Read now, not at start-up: a bad TEMOIN_TSA_* stops `temoin serve` before it listens.
    timestamps = timestamps or TimestampConfig.from_env()
    metrics = Metrics()
    timestamper: Timestamper | None = None
    # Read now, so that a bad TEMOIN_WITNESSES stops `temoin serve` before it listens.
    witnessing = Witnessing(witnesses or WitnessSettings.from_env())
    metrics.sources.append(witnessing.render_metrics)

    def on_signed(log_id: int) -> Callable[[StoredCheckpoint], None]:
        """What log `log_id`'s checkpointer calls when it signed: its metrics, its TSAs and
        witnesses woken."""
        name = label("log", log_id)

        def signed(checkpoint: StoredCheckpoint) -> None:
            metrics.checkpoint_signed(signed_at(checkpoint), log_id)
            metrics.grew(checkpoint.size, log_id)
            if timestamper is not None:
                timestamper.checkpoint_signed(checkpoint, name)
            witnessing.notify(name)

        return signed

    async def on_started(log: LogServices) -> None:
        """A log other than 1 started (at start-up, or registered since): time-stamp and
        witness its checkpoints and its access journal's too, as log 1's."""
        if log.log_id == LOG_ONE:
            return  # registered by the lifespan below, as before
        if timestamper is not None:
            timestamper.add(label("log", log.log_id), log.ledger.store)
            timestamper.add(label("access", log.log_id), log.journal.store)
        await witnessing.add_started(label("log", log.log_id), log.ledger.store)
        await witnessing.add_started(label("access", log.log_id), log.journal.store,
                                     sign=log.journal.sign_checkpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal timestamper
        # Opening creates the tables, the data folder and the keys on first start.
        ledger = await to_thread.run_sync(Ledger, settings)
        # Every log of the database: log 1 first, the others once its time-stamper and
        # witnessing run (below), so that they are added to them as they start.
        served = ServedLogs(
            LogSet(settings, main=ledger), max_events=limits.max_batch_events,
            interval=limits.checkpoint_interval, on_signed=on_signed, on_started=on_started,
        )
        purger = IdempotencyPurger(ledger, ttl)
        # The projections of every log, through the stores of the logs this server started
        # (every log, from start-up on): no second connection pool per log. Only a log created
        # while the server runs and followed before it is started gets one (until restart).
        stores = LogStores(settings, main=ledger.store, opened=served.store_of)
        runner = EveryLogRunner(stores)
        follower: ProjectionFollower | ProjectionProcess = (
            ProjectionProcess(runner, settings) if projections == "process"
            else ProjectionFollower(runner)
        )
        try:
            main = await served.start(LOG_ONE)
            journal = main.journal
            await purger.start()
            if timestamps.urls:
                # Its own tasks: appends and checkpoints never wait for a TSA.
                timestamper = Timestamper(
                    timestamps, [("log", ledger.store), ("access", journal.store)], metrics
                )
                await timestamper.start()
            # After the first checkpoint exists; the tasks only read the store, so a witness
            # that is slow or down never delays an append.
            witnessing.add("log", ledger.store)
            witnessing.add("access", journal.store, sign=journal.sign_checkpoint)
            await witnessing.start()
            await served.start_every_log()
            await served.watch()
            # After every log started, so that it reads through their stores; before the
            # first request, which it catches the projections up for.
            await follower.start()
            app.state.services = Services(
                logs=served,
                metrics=metrics,
                limits=limits,
                rate_limiter=RateLimiter(limits.rate_limit) if limits.rate_limit else None,
                timestamper=timestamper,
                witnessing=witnessing,
            )
            yield
        finally:
            app.state.services = None
            await purger.stop()
            await follower.stop()
            await to_thread.run_sync(stores.close)
            if timestamper is not None:
                await timestamper.stop()
                timestamper = None
            await witnessing.stop()
            await served.stop_checkpointers()
            idle = await threads_idle(DRAIN_SECONDS)
            await to_thread.run_sync(served.close_sequencers)
            if idle:
                await to_thread.run_sync(served.close_stores)
                await to_thread.run_sync(ledger.close)

    app = FastAPI(
        title="Témoin",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served from vendored files by api/routes/viewer.py, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = None
    install_exception_handlers(app)
    for module in (case_list, cases, case_views, batches, evidence, log, keys, key_admin, health):
        app.include_router(module.router)
    # A refused start-up (a key file that does not match the database) says why, untraced.
    app.add_middleware(CleanStartupFailure)
    install_viewer(app)
    # Added last = outermost: metrics see the final status, including 500s made inside.
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_openapi(app, limits.max_batch_events)
    return app


def app_from_env() -> FastAPI:
    """The app of one `temoin serve --workers N` worker process: everything from the
    environment, as each worker builds its own (its own ledger, sequencer and follower)."""
    mode = os.environ.get("TEMOIN_PROJECTIONS", "process")
    if mode not in ("thread", "process"):
        raise ValueError(f"TEMOIN_PROJECTIONS must be 'thread' or 'process', got {mode!r}")
    return create_app(projections="thread" if mode == "thread" else "process")
