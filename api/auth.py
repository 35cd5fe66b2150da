"""Who is calling, and what it may see and do (API.md "Authentication", DESIGN §8).

The checks run in the contract's order:

1. 401: no `Authorization: Bearer` token, or one that matches no key.
2. 404: tenant scope. A case, entry or evidence file of another tenant does not exist for the
   caller; neither does a case outside a lawyer's list. The answer is the same as for a missing
   resource, so nobody learns what exists outside their scope.
3. 403: the role. Only once the resource is in scope does the caller learn that its key may not
   read it.

Write routes have no existing resource to scope (the request creates it, always inside the
caller's own tenant), so for them the role is checked right after authentication: an auditor
posting an event gets 403 whatever the case.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from anyio import to_thread
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ApiKeyReaderDep, ServicesDep
from api.problems import ProblemError
from ledger.apikeys import ApiKey, authenticate

APPENDER, AUDITOR, LAWYER, ADMIN = "appender", "auditor", "lawyer", "admin"

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="tm_<key id>_<secret>",
    description="An API key token from `temoin keys create` or `POST /v1/keys`",
)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, detail, slug="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="temoin"'}
    )


async def current_key(
    services: ServicesDep,
    keys: ApiKeyReaderDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise _unauthorized(
            "send an API key as 'Authorization: Bearer <token>'; create one with "
            "'temoin keys create'"
        )
    # Checked against the database on every request, without a cache: a key revoked by any
    # worker (or by `temoin keys revoke`) is refused by the very next request everywhere.
    key = await to_thread.run_sync(authenticate, keys, credentials.credentials)
    if key is None:
        raise _unauthorized(
            "unknown or revoked API key: check the token, or ask an admin for a new key"
        )
    if services.rate_limiter is not None:
        wait = services.rate_limiter.wait_time(key.id)
        if wait > 0:
            raise ProblemError(
                429, f"too many requests for key {key.id}; retry after the Retry-After delay",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require_role(key: ApiKey, roles: frozenset[str], action: str) -> None:
    if key.role not in roles:
        raise ProblemError(
            403,
            f"a {key.role} key may not {action}; use a key with role "
            f"{' or '.join(sorted(roles))}",
        )


def roles(*allowed: str, action: str) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """Dependency for routes whose only check after authentication is the role."""
    allowed_set = frozenset(allowed)

    async def dependency(key: CurrentKey) -> ApiKey:
        require_role(key, allowed_set, action)
        return key

    return dependency


Writer = Annotated[ApiKey, Depends(roles(APPENDER, ADMIN, action="append"))]
Admin = Annotated[ApiKey, Depends(roles(ADMIN, action="create API keys"))]
Signer = Annotated[ApiKey, Depends(roles(APPENDER, ADMIN, action="sign a checkpoint"))]


def sees_case(key: ApiKey, tenant: str, case: str) -> bool:
    """Tenant scope: the key's tenant, and for a lawyer only its listed cases."""
    return key.tenant == tenant and (key.role != LAWYER or case in key.cases)
