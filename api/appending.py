"""The append path shared by `POST /v1/cases/{case}/events` and `POST /v1/batches`.

Bodies are decoded strictly, every event is validated (all problems of all events reported in
one answer), then the whole request goes to the Sequencer as ONE group: it commits together
with other clients' groups, but succeeds or fails on its own, all or nothing.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Response

from api.deps import Services
from api.idempotency import legacy_request_hash, request_hash
from api.log_services import LogServices
from api.problems import ProblemError, field_errors, invalid, problem_for
from api.strict_json import decode, require_object, unknown_fields
from ledger.apikeys import ApiKey
from ledger.errors import LedgerError
from ledger.events.types import RETENTION_ONLY_FIELDS
from ledger.events.validate import FieldError, ValidationError, validate_append, validate_case_id
from ledger.ledger import AppendGroup, AppendRequest, Idempotency, Receipt, Replayed

EVENT_FIELDS = ("type", "occurred_at", "data", "personal", "evidence", "expected_seq")
BATCH_EVENT_FIELDS = ("case", *EVENT_FIELDS)
BATCH_FIELDS = ("events",)
# expected_seq is compared with case_seq, which a bigint column holds.
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ParsedAppend:
    """A validated request: what to append, and the parsed body the Idempotency-Key covers."""

    requests: list[AppendRequest]
    body: Any


def _expected_seq(value: Any, loc: tuple[str | int, ...], errors: list[FieldError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError(
            (*loc, "expected_seq"), "expected_seq must be an integer (the case's last case_seq)",
            "wrong_type",
        ))
        return None
    if not 0 <= value <= MAX_SEQ:
        errors.append(FieldError(
            (*loc, "expected_seq"), f"expected_seq must be between 0 and {MAX_SEQ}, got {value}",
            "out_of_range",
        ))
        return None
    return value


def _event(
    obj: Mapping[str, Any], key: ApiKey, case: str | None, loc: tuple[str | int, ...],
    allowed: Sequence[str], now: datetime, max_skew: timedelta, errors: list[FieldError],
) -> AppendRequest | None:
    """Validate one event object, adding its problems (placed at `loc`) to `errors`."""
    found = unknown_fields(obj, allowed, *loc)
    if case is None:
        try:
            case = validate_case_id(obj.get("case"))
        except ValidationError as exc:
            found += field_errors(exc.errors, *loc)
    expected_seq = _expected_seq(obj.get("expected_seq"), loc, found)
    try:
        event = validate_append(
            obj.get("type"), obj.get("occurred_at"), obj.get("data"), obj.get("personal"),
            obj.get("evidence"), now=now, max_skew=max_skew,
        )
    except ValidationError as exc:
        found += field_errors(exc.errors, *loc)
        event = None
    if event is not None and event.type == "PersonalDataErased":
        for name in RETENTION_ONLY_FIELDS:
            if name in event.data:
                found.append(FieldError(
                    (*loc, "data", name),
                    f"{name} is written by `temoin retention apply` only, which does the "
                    f"destruction it states", "not_allowed"))
        if "override_holds" in event.data and key.role != "admin":
            raise ProblemError(
                403, "only an admin key may erase a case under legal hold (override_holds); "
                "ask an admin, or release the hold first", slug="forbidden")
    errors.extend(found)
    if found or event is None or case is None:
        return None
    return AppendRequest(key.tenant, key.id, case, event, expected_seq)


def parse_event(raw: bytes, key: ApiKey, case: str, max_skew: timedelta) -> ParsedAppend:
    body = require_object(decode(raw), "body")
    errors: list[FieldError] = []
    request = _event(
        body, key, case, ("body",), EVENT_FIELDS, datetime.now(UTC), max_skew, errors
    )
    if request is None:
        raise invalid(_summary(errors, "the event is invalid"), errors)
    return ParsedAppend([request], body)


def parse_batch(raw: bytes, key: ApiKey, max_events: int, max_skew: timedelta) -> ParsedAppend:
    """Validate a whole batch; every problem of every event is reported, `position` is the
    first failing event."""
    body = require_object(decode(raw), "body")
    errors = unknown_fields(body, BATCH_FIELDS, "body")
    events = body.get("events")
    if events is None:
        errors.append(FieldError(("body", "events"), "events is required (an array)", "missing"))
    elif not isinstance(events, list):
        errors.append(FieldError(("body", "events"), "events must be an array", "wrong_type"))
    elif not events:
        errors.append(FieldError(("body", "events"), "events must not be empty", "empty"))
    elif len(events) > max_events:
        errors.append(FieldError(
            ("body", "events"),
            f"a batch holds at most {max_events:,} events, got {len(events):,}: split it",
            "too_long",
        ))
    if errors:
        raise invalid(_summary(errors, "the batch is invalid"), errors)
    assert isinstance(events, list)
    now = datetime.now(UTC)
    requests: list[AppendRequest] = []
    first_bad: int | None = None
    for position, item in enumerate(events):
        loc: tuple[str | int, ...] = ("body", "events", position)
        before = len(errors)
        if not isinstance(item, dict):
            errors.append(FieldError(loc, "each event must be an object", "wrong_type"))
        else:
            request = _event(item, key, None, loc, BATCH_EVENT_FIELDS, now, max_skew, errors)
            if request is not None:
                requests.append(request)
        if len(errors) > before and first_bad is None:
            first_bad = position
    if errors:
        raise invalid(
            _summary(errors, f"event {first_bad} of the batch is invalid; nothing was stored"),
            errors, position=first_bad,
        )
    return ParsedAppend(requests, body)


def _summary(errors: Sequence[FieldError], lead: str) -> str:
    shown = "; ".join(f"{'.'.join(str(p) for p in e.loc[1:]) or 'body'}: {e.msg}"
                      for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"{lead}: {shown}{more}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render_one(receipts: list[Receipt]) -> str:
    return _json(receipts[0].to_json())


def render_batch(receipts: list[Receipt]) -> str:
    return _json({"results": [r.to_json() for r in receipts]})


async def submit(
    services: Services,
    served: LogServices,
    key: ApiKey,
    parsed: ParsedAppend,
    *,
    route: str,
    case: str | None,
    idempotency_key: str | None,
    render: Callable[[list[Receipt]], str],
) -> Response:
    """Append one request's events as one group; 201 with the receipts, or 200 for a replay."""
    # Never accept entries onto a log that forked from what the signer signed (a flag read).
    served.checkpointer.check_open()
    batch = case is None
    idempotency = None
    hold: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if idempotency_key is not None:
        idempotency = Idempotency(
            key.tenant, idempotency_key,
            request_hash(route, case, parsed.body, served.ledger.idempotency_secret), render,
            legacy_hash=legacy_request_hash(route, case, parsed.body),
        )
        # The second request with this key waits for the first one's commit and then finds
        # its stored answer, instead of racing it into a conflict.
        hold = services.idempotency_locks.hold(key.tenant, idempotency_key)
    async with hold:
        started = time.perf_counter()
        result = await served.sequencer.append(AppendGroup(parsed.requests, idempotency))
        elapsed = time.perf_counter() - started
    if isinstance(result, Replayed):
        return Response(result.response, status_code=200, media_type="application/json")
    if isinstance(result, LedgerError):
        raise problem_for(result, batch=batch)
    if not isinstance(result, list):  # a new kind of result would be a bug here, not a 201
        raise ProblemError(500, "unexpected append result")
    metrics = services.metrics
    metrics.appends.inc(len(result))
    metrics.append_latency.observe(elapsed)
    metrics.grew(max(r.index for r in result) + 1, served.log_id)
    served.checkpointer.notify()
    return Response(render(result), status_code=201, media_type="application/json")
