"""API keys: an admin creates keys for its own tenant.

Admins are tenant-scoped like every other key (API.md: every key belongs to one tenant), so an
admin key can neither create keys for another tenant nor see its cases. Keys for a new tenant
(including its first admin) are created on the server with `temoin keys create`.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import Admin
from api.deps import ApiKeysDep
from api.problems import ProblemError, problem_responses
from api.schemas import KeyCreated, json_body
from api.strict_json import read_json, require_object, unknown_fields
from ledger.apikeys import KeyRequestError, check_key_request, create_key
from ledger.events.validate import FieldError

router = APIRouter(prefix="/v1/keys", tags=["keys"])

KEY_FIELDS = ("role", "tenant", "cases")
MAX_KEY_BODY = 256 * 1024  # a lawyer key with 1,000 long case ids


def _parse(value: Any, admin_tenant: str) -> tuple[str, str, list[str]]:
    body = require_object(value, "body")
    errors = unknown_fields(body, KEY_FIELDS, "body")
    role, tenant, cases = body.get("role"), body.get("tenant", admin_tenant), body.get("cases")
    if role is None:
        errors.append(FieldError(("body", "role"), "role is required", "missing"))
    elif not isinstance(role, str):
        errors.append(FieldError(("body", "role"), "role must be a string", "wrong_type"))
    if not isinstance(tenant, str):
        errors.append(FieldError(("body", "tenant"), "tenant must be a string", "wrong_type"))
    if cases is not None and not (
        isinstance(cases, list) and all(isinstance(c, str) for c in cases)
    ):
        errors.append(FieldError(("body", "cases"), "cases must be an array of case ids",
                                 "wrong_type"))
    if errors:
        raise ProblemError(422, "invalid key request", errors=errors)
    assert isinstance(role, str) and isinstance(tenant, str)
    try:
        listed = check_key_request(role, tenant, cases)
    except KeyRequestError as exc:
        raise ProblemError(
            422, str(exc), errors=[FieldError(("body", exc.field), str(exc), "bad_format")]
        ) from None
    if tenant != admin_tenant:
        raise ProblemError(
            403,
            f"an admin key creates keys for its own tenant ({admin_tenant!r}) only; create keys "
            "for another tenant with 'temoin keys create' on the server",
        )
    return role, tenant, list(listed)


@router.post(
    "",
    operation_id="createKey",
    summary="Create an API key for the admin's tenant",
    status_code=201,
    response_model=KeyCreated,
    response_model_exclude_none=True,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
    openapi_extra=json_body("KeyRequest", "The new key's role (and a lawyer's cases)"),
)
async def create_api_key(request: Request, key: Admin, keys: ApiKeysDep) -> JSONResponse:
    """The token is in this answer only: store it now, it cannot be shown again."""
    value = await read_json(request, MAX_KEY_BODY, what="key request")
    role, tenant, cases = _parse(value, key.tenant)
    key_id, token = await to_thread.run_sync(
        create_key, keys, role, tenant, cases
    )
    body: dict[str, Any] = {"id": key_id, "token": token, "role": role, "tenant": tenant}
    if cases:
        body["cases"] = cases
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})
