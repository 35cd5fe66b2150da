"""Strict JSON request bodies (API.md "Strict input").

FastAPI's own body parsing is deliberately bypassed for JSON routes: pydantic would coerce
`1.0` into `1`, keep the last of two duplicate keys and accept NaN, and an entry must record
exactly what the client meant. Here the body is read with a size limit, its Content-Type is
checked, and it is decoded refusing everything ambiguous:

- 413: the body is larger than the limit (checked on Content-Length, then while reading);
- 415: the Content-Type is not `application/json` (charset, if given, must be UTF-8);
- 400: invalid UTF-8 or malformed JSON (the client's encoder is broken);
- 422: well-formed JSON that the API refuses: duplicate keys, floats, NaN/Infinity, huge
  integers, nesting deeper than any request needs, unknown fields.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from fastapi import Request

from api.problems import ProblemError
from ledger.events.validate import FieldError

# 10^12 cents is the largest amount; 20 digits leaves room for any int64 and stops Python's
# quadratic big-integer parsing (and its 4,300-digit ValueError) from being reachable.
MAX_INT_DIGITS = 20


def _refused(message: str, type_: str) -> ProblemError:
    """Valid JSON syntax the API does not accept (422), raised from inside the parser's hooks:
    json.loads lets it through untouched."""
    return ProblemError(
        422, f"the JSON body is refused: {message}", errors=[FieldError(("body",), message, type_)]
    )


def check_content_type(request: Request) -> None:
    value = request.headers.get("content-type")
    if value is None:
        raise ProblemError(
            415, "this route takes a JSON body: send Content-Type: application/json"
        )
    media_type, _, params = value.partition(";")
    if media_type.strip().lower() != "application/json":
        raise ProblemError(
            415,
            f"this route takes a JSON body: send Content-Type: application/json, "
            f"not {media_type.strip()[:100]!r}",
        )
    for param in params.split(";"):
        name, _, arg = param.partition("=")
        if name.strip().lower() == "charset" and arg.strip().strip('"').lower() not in (
            "utf-8", "utf8",
        ):
            raise ProblemError(415, "JSON bodies must be UTF-8: drop the charset or use utf-8")


async def read_body(request: Request, limit: int, *, what: str = "request body") -> bytes:
    """The whole body, refusing it (413) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(what, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(what, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(what: str, limit: int) -> ProblemError:
    return ProblemError(
        413, f"the {what} exceeds the limit of {limit:,} bytes; nothing was stored",
    )


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _refused(
                f"duplicate key {key[:100]!r}: each key may appear once per object", "duplicate"
            )
        result[key] = value
    return result


def _float(text: str) -> Any:
    raise _refused(
        f"floats are not allowed (got {text[:40]}): send integers, or decimals as strings "
        "such as \"48.8566140\"",
        "wrong_type",
    )


def _constant(text: str) -> Any:
    raise _refused(f"{text} is not valid JSON and is not allowed", "wrong_type")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _refused(
            f"integer with {len(text.lstrip('-'))} digits is out of range "
            f"(at most {MAX_INT_DIGITS} digits)",
            "out_of_range",
        )
    return int(text)


def decode(body: bytes) -> Any:
    """Parse a request body strictly (400 for broken JSON, 422 for refused JSON)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            400, f"the body is not valid UTF-8 (byte {exc.start}); JSON must be UTF-8",
            slug="malformed-json",
        ) from None
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=_float, parse_constant=_constant,
            parse_int=_int,
        )
    except json.JSONDecodeError as exc:
        raise ProblemError(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            slug="malformed-json",
        ) from None
    except RecursionError:
        # The C parser counts its recursion against Python's limit, so this is a clean
        # exception, not a crash; no request of this API nests more than a few levels.
        msg = "the JSON is nested too deeply; no request of this API needs that"
        raise ProblemError(
            422, msg, errors=[FieldError(("body",), msg, "too_deep")]
        ) from None


async def read_json(request: Request, limit: int, *, what: str = "request body") -> Any:
    """Content-Type check, bounded read and strict decoding."""
    check_content_type(request)
    return decode(await read_body(request, limit, what=what))


def unknown_fields(
    value: Mapping[str, Any], allowed: Collection[str], *loc: str | int
) -> list[FieldError]:
    """One error per key of `value` that is not in `allowed`, with the accepted names."""
    names = ", ".join(allowed)
    return [
        FieldError((*loc, key), f"unknown field {key[:100]!r} (fields: {names})", "unknown_field")
        for key in value
        if key not in allowed
    ]


def require_object(value: Any, *loc: str | int, what: str = "the body") -> dict[str, Any]:
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"{type(value).__name__}"
        if value is None:
            kind = "null"
        raise ProblemError(
            422, f"{what} must be a JSON object",
            errors=[FieldError(loc, f"must be an object, got {kind}", "wrong_type")],
        )
    return value
