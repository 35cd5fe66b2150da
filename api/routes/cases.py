"""Cases: append one event, read a case's summary and its entries."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Path, Request, Response

from api.appending import parse_event, render_one, submit
from api.auth import CurrentKey, Writer, sees_case
from api.deps import ServicesDep
from api.idempotency import HEADER, check_key
from api.logs import TenantLog
from api.problems import ProblemError, field_errors, invalid, problem_responses
from api.schemas import CaseSummary, LogEntry, Receipt, json_body
from api.strict_json import check_content_type, read_body
from ledger.apikeys import ApiKey
from ledger.events.fields import CASE_ID_PATTERN
from ledger.events.validate import ValidationError, validate_case_id

router = APIRouter(prefix="/v1/cases", tags=["cases"])

CaseId = Annotated[
    str,
    Path(description="Case id, scoped to the caller's tenant", examples=["CMD-2025-004817"],
         json_schema_extra={"pattern": f"^{CASE_ID_PATTERN}$", "maxLength": 128}),
]
IdempotencyKey = Annotated[
    str | None,
    Header(alias=HEADER, description="Makes a retry safe: the same key with the same body "
           "returns the first answer (200) and appends nothing; with another body, 409"),
]


def valid_case_id(case: str) -> str:
    try:
        return validate_case_id(case)
    except ValidationError as exc:
        raise invalid(f"invalid case id: {exc}", field_errors(exc.errors, "path")) from None


def checked_case(key: ApiKey, case: str) -> str:
    """The case id of a read, once well-formed and inside the key's scope (else 422 / 404)."""
    case = valid_case_id(case)
    if not sees_case(key, key.tenant, case):
        raise case_not_found(case)
    return case


def case_not_found(case: str) -> ProblemError:
    return ProblemError(
        404, f"case {case!r} does not exist (in your tenant, or among your key's cases)",
        slug="case-not-found",
    )


@router.post(
    "/{case}/events",
    operation_id="appendEvent",
    summary="Append one event to a case",
    status_code=201,
    response_model=Receipt,
    responses={
        200: {"description": "Replay: this Idempotency-Key was used with the same body; "
              "nothing was appended", "model": Receipt},
        **problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
    openapi_extra=json_body("AppendEvent", "The event; `type` selects the schema of `data`"),
)
async def append_event(
    case: CaseId,
    request: Request,
    key: Writer,
    services: ServicesDep,
    served: TenantLog,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Answers once the entry, its leaf and its tree nodes are durably committed."""
    case = valid_case_id(case)
    idem = check_key(idempotency_key)
    check_content_type(request)
    raw = await read_body(request, services.limits.max_event_body, what="event body")
    parsed = parse_event(raw, key, case, services.max_skew)
    return await submit(
        services, served, key, parsed, route="POST /v1/cases/{case}/events", case=case,
        idempotency_key=idem, render=render_one,
    )


@router.get(
    "/{case}",
    operation_id="getCase",
    summary="Summary of a case",
    response_model=CaseSummary,
    response_model_exclude_none=True,
    responses=problem_responses(401, 404, 422, 429, 503),
)
async def get_case(case: CaseId, key: CurrentKey, served: TenantLog) -> dict[str, Any]:
    case = checked_case(key, case)
    found = await to_thread.run_sync(served.ledger.case, key.tenant, case)
    if found is None:
        raise case_not_found(case)
    await to_thread.run_sync(lambda: served.journal.record(
        tenant=key.tenant, case=case, who=key.id, role=key.role, action="read_case"))
    summary: dict[str, Any] = {
        "case": found.case,
        "tenant": found.tenant,
        "status": found.status,
        "entries": found.version,  # case_seq is contiguous from 1: the count is the last seq
        "last_seq": found.version,
        "opened_at": found.opened_at,
    }
    if found.closed_at is not None:
        summary["closed_at"] = found.closed_at
    return summary


@router.get(
    "/{case}/entries",
    operation_id="listCaseEntries",
    summary="Entries of a case, verbatim",
    response_model=list[LogEntry],
    responses=problem_responses(401, 404, 422, 429, 503),
)
async def list_case_entries(
    case: CaseId, key: CurrentKey, served: TenantLog
) -> list[dict[str, Any]]:
    """`entry` is the stored JSON text exactly as hashed: SHA-256(0x00 || entry) = leaf_hash."""
    case = checked_case(key, case)
    entries = await to_thread.run_sync(served.ledger.case_entries, key.tenant, case)
    if not entries:
        raise case_not_found(case)
    await to_thread.run_sync(lambda: served.journal.record(
        tenant=key.tenant, case=case, who=key.id, role=key.role, action="read_entries"))
    return [
        {"index": e.index, "leaf_hash": e.leaf_hash.hex(), "entry": e.entry.raw.decode("utf-8")}
        for e in entries
    ]
