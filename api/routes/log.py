"""The Merkle log: verifier key, checkpoints, entries by index, inclusion and consistency proofs.

Proof parameters follow API.md: out-of-range parameters are 422 (index >= size, size or `to`
beyond the tree, from > to, from = 0 < to); `from` = `to` gives an empty proof. An index that
is consistent with `size` but not yet in the log (index < size, index >= tree size) is 404:
the entry does not exist yet, which is more useful to a client than "size too large".
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BeforeValidator

from api.auth import ADMIN, AUDITOR, CurrentKey, Signer, require_role, sees_case
from api.logs import AttestationReaderDep, LogReaderDep, TenantLog
from api.problems import ProblemError, problem_responses
from api.schemas import CheckpointItem, ConsistencyProof, InclusionProof, LogEntry
from api.witnessing import cosigned_note
from ledger.entry import parse_entry
from ledger.events.validate import FieldError
from ledger.ledger import Ledger
from ledger.store.protocols import AttestationReader, LogReader

router = APIRouter(prefix="/v1/log", tags=["log"])

MAX_CHECKPOINTS = 1000
# Leaf indices and sizes are stored as bigint.
MAX_INDEX = 2**63 - 1
ENTRY_READERS = frozenset({AUDITOR, ADMIN})
NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"

_DECIMAL = re.compile(r"-?[0-9]{1,19}")


def _decimal(value: Any) -> Any:
    # pydantic alone would read "1.0" or " 1" as 1; proof parameters must be exact.
    if isinstance(value, str) and _DECIMAL.fullmatch(value) is None:
        raise ValueError(f"must be a decimal integer such as 42, got {value[:40]!r}")
    return value


# After the Query/Path: placed before it, pydantic publishes the bounds as "ge"/"le" (not JSON
# Schema) instead of minimum/maximum, and the OpenAPI document loses them.
Exact = BeforeValidator(_decimal)
Index = Annotated[int, Query(ge=0, le=MAX_INDEX, description="Leaf index"), Exact]
Size = Annotated[int, Query(ge=0, le=MAX_INDEX, description="Tree size"), Exact]


def _text_responses(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description,
                  "content": {"text/plain": {"schema": {"type": "string"}}}}}


def _out_of_range(name: str, msg: str) -> ProblemError:
    return ProblemError(
        422, msg, slug="out-of-range", errors=[FieldError(("query", name), msg, "out_of_range")]
    )


@router.get(
    "/key",
    operation_id="getLogKey",
    summary="The log's verifier key",
    response_class=PlainTextResponse,
    responses={**_text_responses("`<name>+<key id hex>+<base64(0x01 || public key)>`"),
               **problem_responses(401, 429, 503)},
)
async def get_log_key(key: CurrentKey, served: TenantLog) -> PlainTextResponse:
    return PlainTextResponse(served.ledger.key.verifier_key + "\n", media_type=NOTE_MEDIA_TYPE)


@router.get(
    "/checkpoint",
    operation_id="getCheckpoint",
    summary="The latest signed checkpoint",
    response_class=PlainTextResponse,
    responses={**_text_responses("C2SP signed note: origin, size, base64 root, the log's "
                                 "signature, then any witness cosignatures"),
               **problem_responses(401, 429, 503)},
)
async def get_checkpoint(
    key: CurrentKey, served: TenantLog, attestations: AttestationReaderDep
) -> PlainTextResponse:
    """Never older than one second of appends: if the log grew, it is signed before answering.
    The log's signature line comes first, then every witness cosignature stored for it."""
    checkpoint = await served.checkpointer.fresh()
    note = await to_thread.run_sync(cosigned_note, attestations, checkpoint)
    return PlainTextResponse(note.decode("utf-8"), media_type=NOTE_MEDIA_TYPE)


@router.post(
    "/checkpoint",
    operation_id="signCheckpoint",
    summary="Sign a checkpoint now (if the log grew)",
    response_class=PlainTextResponse,
    responses={**_text_responses("The latest checkpoint, as GET"),
               **problem_responses(401, 403, 429, 503)},
)
async def sign_checkpoint(key: Signer, served: TenantLog) -> PlainTextResponse:
    checkpoint = await served.checkpointer.sign_now()
    return PlainTextResponse(checkpoint.note.decode("utf-8"), media_type=NOTE_MEDIA_TYPE)


@router.get(
    "/checkpoints",
    operation_id="listCheckpoints",
    summary="Stored checkpoints with size > after, oldest first",
    response_model=list[CheckpointItem],
    responses=problem_responses(401, 422, 429, 503),
)
async def list_checkpoints(
    key: CurrentKey,
    log: LogReaderDep,
    attestations: AttestationReaderDep,
    after: Annotated[
        int, Query(ge=-1, le=MAX_INDEX, description="Only checkpoints of size > after"), Exact
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_CHECKPOINTS,
                                description="At most this many"), Exact] = MAX_CHECKPOINTS,
) -> list[dict[str, Any]]:
    """Page through the history with `after` = the last size received. `timestamps` holds the
    RFC 3161 tokens received so far for each checkpoint (it grows; re-read to get later ones)."""
    return await to_thread.run_sync(_checkpoints, log, attestations, after, limit)


def _checkpoints(log: LogReader, attestations: AttestationReader, after: int,
                 limit: int) -> list[dict[str, Any]]:
    found = log.checkpoints(after, limit)
    stamps: defaultdict[int, list[str]] = defaultdict(list)
    if found:
        for token in attestations.attestations_between(after, found[-1].size, "rfc3161"):
            stamps[token.size].append(base64.b64encode(token.body).decode("ascii"))
    return [{"size": c.size, "note": c.note.decode("utf-8"), "timestamps": stamps[c.size]}
            for c in found]


def _entry(log: LogReader, index: int) -> tuple[bytes, bytes] | None:
    row = log.leaf(index)
    if row is None:
        return None
    if row.entry is None:
        raise ProblemError(
            500, f"leaf {index} has no stored entry: the log is damaged; run 'temoin verify'",
            slug="log-damaged",
        )
    return row.leaf_hash, row.entry


@router.get(
    "/entries/{index}",
    operation_id="getLogEntry",
    summary="One entry of the log, by leaf index (own tenant's entries)",
    response_model=LogEntry,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
async def get_log_entry(
    index: Annotated[int, Path(ge=0, le=MAX_INDEX, description="Leaf index"), Exact],
    key: CurrentKey,
    log: LogReaderDep,
) -> dict[str, Any]:
    found = await to_thread.run_sync(_entry, log, index)
    not_found = ProblemError(
        404, f"no entry {index} in the log for your tenant", slug="entry-not-found"
    )
    if found is None:
        raise not_found
    leaf_hash, raw = found
    entry = parse_entry(raw)
    if not sees_case(key, entry.tenant, entry.case):
        raise not_found
    require_role(key, ENTRY_READERS, "read log entries by index")
    return {"index": index, "leaf_hash": leaf_hash.hex(), "entry": raw.decode("utf-8")}


def _inclusion(ledger: Ledger, log: LogReader, index: int, size: int) -> dict[str, Any]:
    if index >= size:
        raise _out_of_range("index", f"index must be below size: got index {index}, size {size}")
    tree = ledger.tree_size()
    if index >= tree:
        raise ProblemError(
            404, f"no entry {index} in the log yet (the log has {tree} entries)",
            slug="entry-not-found",
        )
    if size > tree:
        raise _out_of_range(
            "size", f"size {size} is beyond the tree: the log has {tree} entries"
        )
    row = log.leaf(index)
    if row is None:  # index < tree size, so only damage can cause this
        raise ProblemError(500, f"leaf {index} is missing: run 'temoin verify'",
                           slug="log-damaged")
    proof = ledger.inclusion_proof(index, size)
    return {"index": index, "size": size, "leaf_hash": row.leaf_hash.hex(),
            "proof": [h.hex() for h in proof]}


@router.get(
    "/proofs/inclusion",
    operation_id="getInclusionProof",
    summary="RFC 9162 inclusion proof of a leaf in a tree size",
    response_model=InclusionProof,
    responses=problem_responses(401, 404, 422, 429, 503),
)
async def get_inclusion_proof(
    index: Index, size: Size, key: CurrentKey, served: TenantLog, log: LogReaderDep
) -> dict[str, Any]:
    """Verify with RFC 9162 §2.1.3.2 against the root of a checkpoint of that size."""
    return await to_thread.run_sync(_inclusion, served.ledger, log, index, size)


def _consistency(ledger: Ledger, first: int, second: int) -> dict[str, Any]:
    if first > second:
        raise _out_of_range("from", f"from must not exceed to: got from {first}, to {second}")
    tree = ledger.tree_size()
    if second > tree:
        raise _out_of_range("to", f"to {second} is beyond the tree: the log has {tree} entries")
    if first == 0 and second > 0:
        raise _out_of_range(
            "from", "from must be at least 1: every tree is consistent with the empty one, "
            "RFC 9162 defines no proof for it",
        )
    proof = [] if first == second else ledger.consistency_proof(first, second)
    return {"from": first, "to": second, "proof": [h.hex() for h in proof]}


@router.get(
    "/proofs/consistency",
    operation_id="getConsistencyProof",
    summary="RFC 9162 consistency proof between two tree sizes",
    response_model=ConsistencyProof,
    responses=problem_responses(401, 422, 429, 503),
)
async def get_consistency_proof(
    first: Annotated[int, Query(alias="from", ge=0, le=MAX_INDEX, description="Older size"), Exact],
    second: Annotated[int, Query(alias="to", ge=0, le=MAX_INDEX, description="Newer size"), Exact],
    key: CurrentKey,
    served: TenantLog,
) -> dict[str, Any]:
    """Verify with RFC 9162 §2.1.4.2 between the roots of two checkpoints."""
    return await to_thread.run_sync(_consistency, served.ledger, first, second)
