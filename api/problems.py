"""RFC 9457 problem details: every failure of the API is `application/problem+json`.

A problem names its kind with a stable `type` URI (`https://temoin.dev/problems/<slug>`) that
clients can switch on, a human `detail` that says what to do, `instance` (the request path),
and, for validation failures, `errors: [{loc, msg, type}]` naming every bad field. For a batch,
`position` is the index of the failing event. Stack traces never leave the process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.errors import (
    BusyError,
    CaseConflictError,
    CaseNotFoundError,
    ConfigurationError,
    ConflictError,
    DatabaseBusyError,
    EvidenceNotFoundError,
    IdempotencyConflictError,
    InternalError,
    LegalHoldError,
    NotFoundError,
    RetentionClassError,
    SequenceConflictError,
    StoreError,
    TemoinError,
    UnavailableError,
    ValidationError,
    VerificationError,
)
from ledger.events.validate import FieldError
from ledger.signer_state import SignerStateError

log = logging.getLogger("temoin.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://temoin.dev/problems/"
# How long a client should wait before retrying when the database is busy or unreachable.
RETRY_AFTER_BUSY = "1"
RETRY_AFTER_DB_DOWN = "5"

# The generic kind of each status; specific kinds (case-not-found, ...) refine these.
_DEFAULT_SLUGS: Mapping[int, str] = {
    400: "malformed-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
    507: "insufficient-storage",
}

class ProblemFieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`, `path`, `query` or `header`, then "
                                 "the field path, e.g. `[\"body\", \"data\", \"amount_cents\"]`")
    msg: str
    type: str = Field(description="Machine-readable code, e.g. `missing`, `unknown_field`, "
                      "`wrong_type`, `bad_format`, `out_of_range`, `too_long`, `in_future`")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["https://temoin.dev/problems/invalid-request"])
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request path")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="Every invalid field (validation problems only)"
    )
    position: int | None = Field(
        default=None, description="Index of the failing event in a batch"
    )


class ProblemError(TemoinError):
    """Raise anywhere in a request to answer with exactly this problem (an error of the tree
    that carries its own HTTP status, type and fields)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] | None = None,
        position: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.errors = errors
        self.position = position
        self.headers = headers


def field_errors(errors: Sequence[FieldError], *prefix: str | int) -> list[FieldError]:
    """Place errors found inside a value (relative locs) at `prefix` in the request."""
    return [FieldError((*prefix, *e.loc), e.msg, e.type) for e in errors]


def invalid(
    detail: str, errors: Sequence[FieldError], *, position: int | None = None
) -> ProblemError:
    return ProblemError(422, detail, errors=errors, position=position)


class ProblemResponse(JSONResponse):
    """ASCII-only JSON: a problem may quote what the client sent, and a lone surrogate from a
    JSON escape (\\ud800) cannot be encoded as UTF-8; escaped, every problem can be sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem_response(
    request_path: str,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    position: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or _DEFAULT_SLUGS.get(status, "error")),
        "title": title or _title(status),
        "status": status,
        "detail": detail,
        "instance": request_path,
    }
    if errors is not None:
        body["errors"] = [{"loc": list(e.loc), "msg": e.msg, "type": e.type} for e in errors]
    if position is not None:
        body["position"] = position
    return ProblemResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# -- the tree's errors -------------------------------------------------------------------------

# The problem of each error of the tree (docs/ERRORS.md): the first row whose class the error
# is an instance of. Specific classes first, then one row per kind, so an error of the tree
# that no row names still gets its kind's status, never a 500 (only InternalError is one).
_PROBLEMS: Sequence[tuple[type[TemoinError], int, str]] = (
    (CaseNotFoundError, 404, "case-not-found"),
    (LegalHoldError, 409, "legal-hold"),
    (CaseConflictError, 409, "case-conflict"),
    (SequenceConflictError, 409, "sequence-conflict"),
    (IdempotencyConflictError, 409, "idempotency-conflict"),
    (RetentionClassError, 422, "retention-class"),
    (EvidenceNotFoundError, 422, "evidence-not-found"),
    (BusyError, 503, "busy"),
    (DatabaseBusyError, 503, "busy"),
    (SignerStateError, 503, "log-fork"),
    (NotFoundError, 404, "not-found"),
    (ConflictError, 409, "conflict"),
    (ValidationError, 422, "invalid-request"),
    (VerificationError, 422, "verification-failed"),
    (UnavailableError, 503, "unavailable"),
    (StoreError, 503, "store-error"),
    (ConfigurationError, 503, "not-configured"),
    (InternalError, 500, "internal-error"),
)
# Retry-After of the retryable kinds: soon when the database is only busy (a lock was not
# granted in time), later when it is down or the service is stopping.
_RETRY_AFTER: Sequence[tuple[type[TemoinError], str]] = (
    (BusyError, RETRY_AFTER_BUSY),
    (DatabaseBusyError, RETRY_AFTER_BUSY),
    (UnavailableError, RETRY_AFTER_DB_DOWN),
)


def problem_for(exc: TemoinError, *, batch: bool = False) -> ProblemError:
    """The problem answering an error of the tree: its status and type by kind (`_PROBLEMS`),
    its sentence as `detail`; `batch` adds a refused event's position."""
    if isinstance(exc, ProblemError):
        return exc
    # Only a root without a kind (TemoinError or LedgerError themselves) falls through.
    status, slug = next(
        ((status, slug) for cls, status, slug in _PROBLEMS if isinstance(exc, cls)),
        (500, "internal-error"),
    )
    position = getattr(exc, "position", None) if batch else None
    detail, title = str(exc), None
    errors = None
    if isinstance(exc, EvidenceNotFoundError | RetentionClassError):
        where: tuple[str | int, ...] = ("body",)
        if position is not None:
            where = ("body", "events", position)
        errors = [
            FieldError((*where, "evidence"), detail, "not_found")
            if isinstance(exc, EvidenceNotFoundError)
            else FieldError((*where, "data", "retention_class"), detail, "not_allowed")
        ]
    elif isinstance(exc, IdempotencyConflictError):
        detail += "; use a new Idempotency-Key for a different request"
    elif isinstance(exc, SignerStateError):
        # Not retryable by waiting: an operator must investigate (docs/TRUST.md); the detail
        # names the signed tree head and what the database holds instead.
        detail = f"the log refuses to extend a fork: {exc}"
        title = "Log forked from its signed checkpoints"
    retry = next((after for cls, after in _RETRY_AFTER if isinstance(exc, cls)), None)
    return ProblemError(
        status, detail, slug=slug, title=title, errors=errors, position=position,
        headers={"Retry-After": retry} if retry is not None else None,
    )


# -- handlers --------------------------------------------------------------------------------

_PYDANTIC_TYPES: Mapping[str, str] = {
    "missing": "missing",
    "int_parsing": "wrong_type",
    "int_type": "wrong_type",
    "int_from_float": "wrong_type",
    "string_type": "wrong_type",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "string_too_long": "too_long",
    "string_too_short": "empty",
}


def _from_pydantic(errors: Sequence[Any]) -> list[FieldError]:
    result = []
    for err in errors:
        loc = tuple(p if isinstance(p, int) else str(p) for p in err.get("loc", ()))
        kind = str(err.get("type", "bad_format"))
        result.append(FieldError(loc, str(err.get("msg", "invalid")), _PYDANTIC_TYPES.get(
            kind, "bad_format")))
    return result


def _path(request: Request) -> str:
    """The path as the server routed it. `request.url.path` goes through urlsplit, which
    silently drops tabs and newlines, so a problem about case "A\\nB" named case "AB"."""
    path: str = request.scope["path"]
    return path


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        _path(request), exc.status, exc.detail, slug=exc.slug, title=exc.title,
        errors=exc.errors, position=exc.position, headers=exc.headers,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path. The router's own 405 names only the first
    route's, so a path with one route per method (GET and POST /v1/log/checkpoint) lost some."""
    allowed = []
    for method in _METHODS:
        scope = {"type": "http", "path": request.scope["path"], "method": method,
                 "root_path": request.scope.get("root_path", "")}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed) or None


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 404:
        detail = f"no route {_path(request)}; see /docs for the routes of this API"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {_path(request)}"
        allowed = _allowed_methods(request)
        if allowed is not None:
            headers["Allow"] = allowed
    else:
        detail = str(exc.detail)
    return problem_response(_path(request), exc.status_code, detail, headers=headers)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _from_pydantic(exc.errors())
    where = ", ".join(".".join(str(p) for p in e.loc) for e in errors)
    return problem_response(
        _path(request), 422, f"invalid request parameters: {where}", errors=errors
    )


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TemoinError)
    problem = problem_for(exc)
    if problem.status == 500 and not isinstance(exc, ProblemError):
        # A bug: its traceback goes to the log (a ProblemError's raiser logged what it knew).
        log.error("%s on %s %s", type(exc).__name__, request.method, _path(request),
                  exc_info=exc)
    elif isinstance(exc, UnavailableError) and exc.__cause__ is not None:
        # The cause goes to the log, not to the client: it can name hosts and users.
        log.warning("%s on %s %s: %s", type(exc).__name__, request.method, _path(request),
                    exc.__cause__)
    return await _on_problem(request, problem)


async def _on_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # Nobody will read this answer; it only keeps the disconnect out of the error log.
    log.info("client left during %s %s before sending its whole body", request.method,
             _path(request))
    return problem_response(_path(request), 400, "the request body was cut short")


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TemoinError, _on_error)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ClientDisconnect, _on_disconnect)


class InternalErrorMiddleware:
    """Turn any unhandled exception into a 500 problem; the traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a problem document: let the server drop the connection
            response = problem_response(
                scope.get("path", ""), 500,
                "an internal error occurred; nothing was stored if this was an append. "
                "The server log has the details",
            )
            await response(scope, receive, send)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error statuses, all documented as Problem."""
    return {
        status: {
            "description": _RESPONSE_DESCRIPTIONS.get(status, _title(status)),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


_RESPONSE_DESCRIPTIONS: Mapping[int, str] = {
    400: "Malformed JSON or invalid UTF-8",
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this",
    404: "Not found (or not visible to this key's tenant or cases)",
    409: "Conflict with the case's state, expected_seq, or an Idempotency-Key",
    413: "Request body above the configured limit",
    415: "Wrong Content-Type",
    422: "Invalid request; `errors` names each bad field",
    429: "Too many requests for this key; see Retry-After",
    500: "Internal error",
    503: "Database busy or unavailable (see Retry-After); or `log-fork`: the database no "
         "longer extends the last signed checkpoint, an operator must act (docs/TRUST.md)",
    507: "Not enough disk space on the server for this download; see Retry-After",
}
