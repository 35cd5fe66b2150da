"""`GET /v1/cases`: a page of the caller's cases, from the case index.

Scope: a key sees its own tenant's cases only; a lawyer key only the cases it was given. Every
role may list (what a listing shows, ids, status, counts and dates, every role may already read
case by case).

Freshness: the case index is a projection of the log, kept current by the server (within a
second, DESIGN §7); this route first waits until the follower has brought it up to the log's
current size (it applies nothing itself: a read writes nothing), so a listing shows every case
whose opening was acknowledged before the request.

Not journaled: the access journal records reads of one case's contents (timeline, entries,
report, bundle, evidence) in that case's own trail; a listing reads none of them.
"""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import LAWYER, CurrentKey
from api.follower import caught_up
from api.logs import ProjectionSourceDep
from api.problems import ProblemError, problem_responses
from api.routes.log import Exact
from ledger.case_search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PARAMETERS,
    STATUSES,
    CaseQueryError,
    check_parameters,
    list_cases,
    parse_filters,
)
from ledger.events.clock import RFC3339_SCHEMA_PATTERN
from ledger.events.validate import FieldError
from projections.runner import ProjectionRunner

router = APIRouter(prefix="/v1/cases", tags=["cases"])


class CaseListItem(BaseModel):
    case: str
    status: str = Field(description="`open` or `closed`")
    entries: int = Field(description="Number of entries of the case")
    last_seq: int = Field(description="case_seq of the last entry")
    opened_at: str | None
    closed_at: str | None = Field(description="null while the case is open")


class CaseList(BaseModel):
    items: list[CaseListItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null at the end")


def _problem(exc: CaseQueryError) -> ProblemError:
    return ProblemError(422, f"invalid {exc.field}: {exc}",
                        errors=[FieldError(("query", exc.field), str(exc), exc.kind)])


_TIME = {"pattern": RFC3339_SCHEMA_PATTERN}


@router.get(
    "",
    operation_id="listCases",
    summary="List the caller's cases (a lawyer: its cases), filtered, a page at a time",
    response_model=CaseList,
    responses=problem_responses(401, 422, 429, 503),
)
async def list_tenant_cases(
    request: Request,
    key: CurrentKey,
    store: ProjectionSourceDep,
    # Strings checked by ledger.case_search (its messages say what to send instead).
    status: Annotated[str | None, Query(description="Only cases of this status",
                                        json_schema_extra={"enum": list(STATUSES)})] = None,
    opened_after: Annotated[str | None, Query(
        description="Only cases opened at or after this RFC 3339 time",
        json_schema_extra=_TIME)] = None,
    opened_before: Annotated[str | None, Query(
        description="Only cases opened before this RFC 3339 time", json_schema_extra=_TIME)] = None,
    q: Annotated[str | None, Query(
        description="Case id substring, case-insensitive (case ids only)",
        json_schema_extra={"pattern": "^[A-Za-z0-9._:-]{1,128}$"})] = None,
    cursor: Annotated[str | None, Query(
        description="`next_cursor` of the previous page",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]{1,1024}$"})] = None,
    limit: Annotated[int, Query(
        ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        Exact] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    names = [name for name, _ in request.query_params.multi_items()]
    twice = sorted({n for n in names if n in PARAMETERS and names.count(n) > 1})
    if twice:
        raise _problem(CaseQueryError(twice[0], f"{twice[0]} is given more than once"))
    try:
        check_parameters(names)
        filters = parse_filters(status, opened_after, opened_before, q)
    except CaseQueryError as exc:
        raise _problem(exc) from None
    only = key.cases if key.role == LAWYER else None

    await caught_up(ProjectionRunner(store))

    def page() -> Any:
        return list_cases(store, key.tenant, filters, cursor=cursor, limit=limit, only=only)

    try:
        found = await to_thread.run_sync(page)
    except CaseQueryError as exc:
        raise _problem(exc) from None
    return {"items": found.items, "next_cursor": found.next_cursor}
