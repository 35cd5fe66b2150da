"""Batches: many events, for any cases of the tenant, appended all or nothing."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request, Response

from api.appending import parse_batch, render_batch, submit
from api.auth import Writer
from api.deps import ServicesDep
from api.idempotency import check_key
from api.logs import TenantLog
from api.problems import problem_responses
from api.routes.cases import IdempotencyKey
from api.schemas import BatchResults, json_body
from api.strict_json import check_content_type, read_body

router = APIRouter(prefix="/v1/batches", tags=["cases"])


@router.post(
    "",
    operation_id="appendBatch",
    summary="Append a batch of events, all or nothing",
    status_code=201,
    response_model=BatchResults,
    responses={
        200: {"description": "Replay: this Idempotency-Key was used with the same body; "
              "nothing was appended", "model": BatchResults},
        **problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
    openapi_extra=json_body(
        "Batch", "Events in order; each names its case. A problem's `position` is the index "
        "of the failing event",
    ),
)
async def append_batch(
    request: Request,
    key: Writer,
    services: ServicesDep,
    served: TenantLog,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Either every event is appended (in order, in one transaction) or none is."""
    idem = check_key(idempotency_key)
    check_content_type(request)
    limits = services.limits
    raw = await read_body(request, limits.max_batch_body, what="batch body")
    # Decoding and validating up to 8 MiB of events takes tens of milliseconds: not on the
    # event loop, where it would stall every other request.
    parsed = await to_thread.run_sync(
        parse_batch, raw, key, limits.max_batch_events, services.max_skew
    )
    return await submit(
        services, served, key, parsed, route="POST /v1/batches", case=None,
        idempotency_key=idem, render=render_batch,
    )
