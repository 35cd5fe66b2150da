"""`GET /v1/keys` and `DELETE /v1/keys/{key_id}`: an admin lists and revokes its tenant's keys.

A listing never shows a token or its hash. A revocation is a row of `api_key_revocations`
(when, and by which key); authentication reads it on every request, so the revoked token is
refused (401) from the next request on, in every worker. Revoking is idempotent (204 again,
the first record kept); another tenant's key, like an unknown one, is 404. An admin may revoke
its own key (how a leaked admin key is retired): its next request is 401, so keep another admin
key or `temoin keys create` at hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from api.auth import ADMIN, roles
from api.deps import ApiKeyReaderDep, ApiKeysDep
from api.problems import ProblemError, problem_responses
from ledger.apikeys import ApiKey
from ledger.events.validate import FieldError
from ledger.store.keys import KeyRow

router = APIRouter(prefix="/v1/keys", tags=["keys"])

KeyManager = Annotated[ApiKey, Depends(roles(ADMIN, action="list or revoke API keys"))]
KEY_ID_PATTERN = "^key_[0-9a-f]{12}$"
KeyId = Annotated[str, Path(description="The key's public id (`key_` + 12 hex)",
                            examples=["key_0123456789ab"],
                            json_schema_extra={"pattern": KEY_ID_PATTERN})]


class KeyInfo(BaseModel):
    id: str
    role: str
    tenant: str
    cases: list[str] = Field(description="A lawyer key's cases; empty for other roles")
    created_at: str
    revoked_at: str | None = Field(description="null while the key is valid")
    revoked_by: str | None = Field(description="The key id that revoked it")


class KeyList(BaseModel):
    items: list[KeyInfo]


def key_info(row: KeyRow) -> dict[str, Any]:
    return {"id": row.id, "role": row.role, "tenant": row.tenant, "cases": json.loads(row.cases),
            "created_at": row.created_at, "revoked_at": row.revoked_at,
            "revoked_by": row.revoked_by}


@router.get(
    "",
    operation_id="listKeys",
    summary="The admin's tenant's API keys (never their tokens)",
    response_model=KeyList,
    responses=problem_responses(401, 403, 429, 503),
)
async def list_keys(key: KeyManager, keys: ApiKeyReaderDep) -> dict[str, Any]:
    rows = await to_thread.run_sync(keys.list_api_keys, key.tenant)
    return {"items": [key_info(r) for r in rows]}


def _not_found(key_id: str) -> ProblemError:
    return ProblemError(404, f"no key {key_id!r} in your tenant; list them with GET /v1/keys",
                        slug="key-not-found")


@router.delete(
    "/{key_id}",
    operation_id="revokeKey",
    summary="Revoke one of the tenant's keys: its token is refused from the next request on",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
async def revoke_key(key_id: KeyId, key: KeyManager, keys: ApiKeysDep) -> Response:
    if not key_id.startswith("key_") or len(key_id) != 16 or any(
            c not in "0123456789abcdef" for c in key_id[4:]):
        msg = f"a key id is 'key_' then 12 lowercase hex digits, got {key_id[:40]!r}"
        raise ProblemError(422, msg, errors=[FieldError(("path", "key_id"), msg, "bad_format")])
    row = await to_thread.run_sync(keys.api_key_row, key_id)
    if row is None or row.tenant != key.tenant:
        raise _not_found(key_id)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await to_thread.run_sync(keys.revoke_api_key, key_id, now, key.id)
    return Response(status_code=204)
