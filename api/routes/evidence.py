"""Evidence files: upload raw bytes (content-addressed), download them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from anyio import from_thread, to_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from api.auth import ADMIN, AUDITOR, LAWYER, CurrentKey, Writer, require_role
from api.deps import ServicesDep
from api.log_services import LogServices
from api.logs import EvidenceReaderDep, TenantLog
from api.problems import ProblemError, problem_responses
from api.schemas import HEX64, EvidenceInfo
from api.strict_json import too_large
from ledger.access import evidence_trail
from ledger.apikeys import ApiKey
from ledger.events.validate import FieldError
from ledger.evidence import EvidenceTooLargeError, StoredFile
from ledger.store.protocols import EvidenceReader

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])

READERS = frozenset({AUDITOR, LAWYER, ADMIN})
MAX_MEDIA_TYPE = 255
# RFC 9110 §8.3.1: type "/" subtype, both tokens, then optional ";"-separated parameters.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"({_TOKEN})/({_TOKEN})((?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*)"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")

Sha256 = Annotated[
    str, Path(description="SHA-256 of the file, 64 lowercase hex digits",
              json_schema_extra={"pattern": HEX64}),
]


def _media_type(value: str | None) -> str:
    """The media type to record: type/subtype in lower case, parameters as sent."""
    if value is None:
        raise ProblemError(
            415, "send the file's media type as Content-Type, e.g. application/pdf or image/jpeg",
        )
    value = value.strip()
    match = _MEDIA_TYPE.fullmatch(value)
    if match is None or len(value) > MAX_MEDIA_TYPE:
        raise ProblemError(
            415, f"Content-Type must be a media type such as application/pdf or image/jpeg "
            f"(type/subtype, at most {MAX_MEDIA_TYPE} characters), got {value[:100]!r}",
        )
    return f"{match.group(1).lower()}/{match.group(2).lower()}{match.group(3)}"


async def _store(served: LogServices, request: Request, limit: int) -> StoredFile:
    """Stream the body to disk in a worker thread: writing and fsyncing up to 25 MiB would
    otherwise stall every other request on the event loop."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        return await anext(stream, None)

    def chunks() -> Iterator[bytes]:
        while (chunk := from_thread.run(next_chunk)) is not None:
            yield chunk

    files = served.ledger.files
    return await to_thread.run_sync(lambda: files.put(chunks(), max_size=limit))


def _register(served: LogServices, uploads: EvidenceReader, key: ApiKey, sha256: str, size: int,
              media_type: str) -> tuple[bool, dict[str, Any]]:
    new = served.ledger.register_evidence(key.tenant, StoredFile(sha256, size), media_type)
    found = uploads.evidence(key.tenant, sha256)
    # The first upload's media type stays: the same bytes again give the same answer.
    stored_type = found[0] if found is not None else media_type
    return new, {"sha256": sha256, "size": size, "media_type": stored_type}


@router.post(
    "",
    operation_id="uploadEvidence",
    summary="Upload an evidence file (raw bytes)",
    status_code=201,
    response_model=EvidenceInfo,
    responses={
        200: {"description": "These bytes were already uploaded by this tenant",
              "model": EvidenceInfo},
        **problem_responses(401, 403, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file's bytes; Content-Type is its media type",
            # An empty body is refused (422): it proves nothing.
            "content": {"*/*": {"schema": {"type": "string", "format": "binary",
                                           "minLength": 1}}},
        }
    },
)
async def upload_evidence(
    request: Request, key: Writer, services: ServicesDep, served: TenantLog,
    uploads: EvidenceReaderDep,
) -> Response:
    """Reference the returned sha256 in an event's `evidence` (with a role) to attach it."""
    media_type = _media_type(request.headers.get("content-type"))
    limit = services.limits.max_evidence
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large("evidence file", limit)
    try:
        stored = await _store(served, request, limit)
    except EvidenceTooLargeError:
        raise too_large("evidence file", limit) from None
    if stored.size == 0:
        # The empty file proves nothing; refusing it catches clients that lost the body.
        # It was already written under its hash: remove it, a refused request stores nothing
        # (no row can name it, since every empty upload is refused).
        empty = served.ledger.files.path(stored.sha256)
        await to_thread.run_sync(lambda: empty.unlink(missing_ok=True))
        msg = "the evidence file is empty: send the file's bytes as the request body"
        raise ProblemError(422, msg, errors=[FieldError(("body",), msg, "empty")])
    new, body = await to_thread.run_sync(
        _register, served, uploads, key, stored.sha256, stored.size, media_type
    )
    return JSONResponse(body, status_code=201 if new else 200)


def _lawyer_sees(served: LogServices, key: ApiKey, sha256: str) -> bool:
    # A lawyer reads given cases only: a file is visible if an entry of one of them names it.
    for case in sorted(key.cases):
        for entry in served.ledger.case_entries(key.tenant, case):
            if any(item.get("sha256") == sha256 for item in entry.entry.evidence):
                return True
    return False


def _find(served: LogServices, uploads: EvidenceReader, key: ApiKey, sha256: str) -> str | None:
    found = uploads.evidence(key.tenant, sha256)
    if found is None:
        return None
    if key.role == LAWYER and not _lawyer_sees(served, key, sha256):
        return None
    return found[0]


@router.get(
    "/{sha256}",
    operation_id="getEvidence",
    summary="Download an evidence file",
    response_class=FileResponse,
    responses={
        200: {"description": "The file, with its recorded media type",
              "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(401, 403, 404, 422, 429, 503),
    },
)
async def get_evidence(
    sha256: Sha256, key: CurrentKey, served: TenantLog, uploads: EvidenceReaderDep
) -> Response:
    if _SHA256.fullmatch(sha256) is None:
        msg = f"sha256 must be 64 lowercase hex digits, got {sha256[:100]!r}"
        raise ProblemError(422, msg, errors=[FieldError(("path", "sha256"), msg, "bad_format")])
    media_type = await to_thread.run_sync(_find, served, uploads, key, sha256)
    if media_type is None:
        raise ProblemError(
            404, f"no evidence file {sha256} for your tenant (or your key's cases)",
            slug="evidence-not-found",
        )
    require_role(key, READERS, "download evidence files")
    path = served.ledger.files.path(sha256)
    if not await to_thread.run_sync(path.is_file):
        raise ProblemError(
            500, f"evidence file {sha256} is registered but missing from the data folder; "
            "restore it from backup and run 'temoin verify'",
            slug="evidence-missing",
        )
    # Recorded before the first byte is sent, like every read (ledger/access.py).
    await to_thread.run_sync(lambda: served.journal.record(
        tenant=key.tenant, case=evidence_trail(sha256), who=key.id, role=key.role,
        action="read_evidence", detail=sha256))
    return FileResponse(path, media_type=media_type)
