"""What the routes share for the life of the app, and the dependencies that hand it to them.

Routes take the store through the read-only Protocols of `ledger.store.protocols` (`LogReaderDep`,
`EvidenceReaderDep`, ... in api/logs.py, of the caller's tenant's log), never a ledger's store
itself: a route cannot reach a method its Protocol does not name, and the store behind it may
change without touching the routes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from api.checkpointer import Checkpointer
from api.idempotency import KeyLocks
from api.limits import Limits
from api.log_services import ServedLogs
from api.metrics import Metrics
from api.problems import ProblemError
from api.timestamper import Timestamper
from api.witnessing import Witnessing
from ledger.access import AccessJournal
from ledger.ledger import Ledger
from ledger.sequencer import Sequencer
from ledger.store.protocols import ApiKeyReader, ApiKeys


class RateLimiter:
    """Token bucket per API key: `rate` requests a second, bursts of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, key_id: str) -> float:
        """0 if the request may go now (and counts it), else seconds until it could."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1 - tokens) / self.rate


@dataclass
class Services:
    logs: ServedLogs
    metrics: Metrics
    limits: Limits
    idempotency_locks: KeyLocks = field(default_factory=KeyLocks)
    rate_limiter: RateLimiter | None = None
    timestamper: Timestamper | None = None  # None: no TEMOIN_TSA_URLS
    witnessing: Witnessing | None = None

    # Log 1's, the deployment's: what holds the API keys and what health, metrics, timestamps
    # and witnesses follow. A route serving a tenant takes its log from `TenantLog`
    # (api/logs.py) instead.
    @property
    def ledger(self) -> Ledger:
        return self.logs.main.ledger

    @property
    def sequencer(self) -> Sequencer:
        return self.logs.main.sequencer

    @property
    def checkpointer(self) -> Checkpointer:
        return self.logs.main.checkpointer

    @property
    def journal(self) -> AccessJournal:
        return self.logs.main.journal

    @property
    def max_skew(self) -> timedelta:
        """How far occurred_at may lie ahead of the ledger's clock (the same for every log)."""
        return timedelta(seconds=self.ledger.settings.max_skew_seconds)


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in the thread pool, a thread
    # hop (and GIL hand-over) on every request for what is one attribute read.
    services: Services | None = getattr(request.app.state, "services", None)
    # Only a request that slipped in before start-up finished, or after the stop began (the
    # lifespan's shutdown clears it first).
    if services is None:
        raise ProblemError(503, "the service is starting or stopping; retry in a moment",
                           headers={"Retry-After": "1"})
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


# The API keys are the database's, not a log's (one table for every log): read through log
# 1's store, before the caller's tenant, hence its log, is known. The store of a tenant's log,
# one Protocol at a time, is in api/logs.py. async for the reason given in `get_services`.
async def api_key_reader(services: ServicesDep) -> ApiKeyReader:
    return services.ledger.store


async def api_keys(services: ServicesDep) -> ApiKeys:
    return services.ledger.store


ApiKeyReaderDep = Annotated[ApiKeyReader, Depends(api_key_reader)]
# Creating and revoking keys (admin routes): the only routes that write through the store.
ApiKeysDep = Annotated[ApiKeys, Depends(api_keys)]
