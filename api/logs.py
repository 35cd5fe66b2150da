"""Which log serves the caller: the log of its API key's tenant (issue 14 "Many logs").

A database may hold several logs (ledger/logs.py); each tenant writes to and reads from exactly
one. This server serves the deployment's log (log 1) only, so far: a request of a tenant mapped
to another log is refused, before any route runs, rather than served from log 1, so that no
entry of that tenant is ever appended to, and nothing of its log read through, the wrong log.
Serving every log (one sequencer, checkpointer and journal per log) is the next step.
"""

from __future__ import annotations

import threading

from anyio import to_thread

from api.problems import ProblemError
from ledger.store.protocols import LogRegistryReader


class TenantLogs:
    """tenant -> log id, read once per tenant: a tenant never moves to another log."""

    def __init__(self, registry: LogRegistryReader) -> None:
        self.registry = registry
        self._known: dict[str, int] = {}
        self._lock = threading.Lock()

    def log_of(self, tenant: str) -> int:
        with self._lock:
            found = self._known.get(tenant)
        if found is None:
            found = self.registry.tenant_log(tenant)
            with self._lock:
                self._known[tenant] = found
        return found


_maps: dict[int, TenantLogs] = {}
_maps_lock = threading.Lock()


def _tenant_logs(registry: LogRegistryReader) -> TenantLogs:
    with _maps_lock:
        found = _maps.get(id(registry))
        if found is None or found.registry is not registry:
            found = _maps[id(registry)] = TenantLogs(registry)
        return found


async def require_served_log(registry: LogRegistryReader, served: int, tenant: str) -> None:
    """503 unless `tenant`'s log is the one this server serves."""
    logs = _tenant_logs(registry)
    with logs._lock:
        known = logs._known.get(tenant)
    log_id = known if known is not None else await to_thread.run_sync(logs.log_of, tenant)
    if log_id != served:
        raise ProblemError(
            503, f"tenant {tenant!r} is on log {log_id}, which this server does not serve "
                 f"(it serves log {served}); see `temoin logs list`",
            slug="log-not-served",
        )
