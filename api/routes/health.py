"""Liveness and metrics: no authentication, no tenant or case data."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import ServicesDep
from api.metrics import CONTENT_TYPE
from api.problems import problem_responses
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    operation_id="healthz",
    summary="Liveness, including a cheap database query",
    response_model=Health,
    response_model_exclude_unset=True,
    responses=problem_responses(503),
)
async def healthz(services: ServicesDep) -> dict[str, Any]:
    # A database error, or a log that forked from the signer state, becomes a 503 problem
    # through the exception handlers.
    services.checkpointer.check_open()
    size = await to_thread.run_sync(services.ledger.tree_size)
    services.metrics.grew(size)
    health: dict[str, Any] = {"status": "ok", "tree_size": size}
    started = services.logs.started()
    if len(started) > 1:
        # Another log's trouble is its tenants' (503 on their requests), not the server's.
        logs: dict[str, Any] = {}
        for log in sorted(started, key=lambda one: one.log_id):
            log_size = await to_thread.run_sync(log.ledger.tree_size)
            services.metrics.grew(log_size, log.log_id)
            refusing = log.checkpointer.refusing is not None
            logs[str(log.log_id)] = {"status": "refusing" if refusing else "ok",
                                     "tree_size": log_size, "origin": log.ledger.origin}
        health["logs"] = logs
    if services.timestamper is not None:
        health["timestamps"] = services.timestamper.health()
    if services.witnessing is not None and services.witnessing.settings.witnesses:
        health["details"] = {"witnessing": services.witnessing.health()}
    return health


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text format 0.0.4",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(services.metrics.render(), media_type=CONTENT_TYPE)
