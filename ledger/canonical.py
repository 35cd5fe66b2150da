"""Canonical JSON for entries (DESIGN §2): the exact bytes a Merkle leaf commits to.

Entries are hashed as bytes, so two encoders that disagree on one space would make the same
fact hash differently. This module is the single place that turns a value into those bytes.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ledger.errors import ValidationError


class CanonicalError(ValidationError, ValueError):
    """A value cannot be encoded canonically, or bytes are not canonical JSON."""


def _check(value: Any, path: str) -> None:
    # Floats are refused outright: their text form is not stable across encoders.
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise CanonicalError(f"{path}: string is not valid UTF-8 (lone surrogate)") from exc
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise CanonicalError(f"{path}: floats are not allowed, got {value!r}")
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise CanonicalError(f"{path}: object keys must be ASCII strings, got {key!r}")
            _check(item, f"{path}.{key}")
        return
    raise CanonicalError(f"{path}: {type(value).__name__} is not a JSON value")


def _plain(value: Any) -> bool:
    """True if `value` holds only exact JSON types and ASCII string keys (no floats).

    The append path encodes every entry once; this loop is the common case of `_check`
    without a call per value or a path string (it was ~5 µs of an event's ~50 µs). Anything
    unusual (a float, a subclass, an odd key) returns False and gets `_check`'s diagnosis;
    lone surrogates are left to the UTF-8 encoding below, which cannot encode them.
    """
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                push(child)
        elif kind is list:
            extend(item)
        else:
            return False
    return True


def canonical_bytes(value: Any) -> bytes:
    """Encode `value` canonically: UTF-8, sorted ASCII keys, no white space, no floats."""
    if _plain(value):
        # orjson writes the same bytes as the json module below for these values (every code
        # point, escapes included: tests/test_canonical.py proves it), ten times faster.
        # It refuses integers beyond 64 bits and lone surrogates: the json path decides those.
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass
    else:
        _check(value, "$")
    return _json_bytes(value)


def _json_bytes(value: Any) -> bytes:
    """The reference encoding (DESIGN §2, docs/FORMAT.md); verification re-encodes with it."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        _check(value, "$")  # names the string that holds the lone surrogate
        raise


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise CanonicalError(f"floats are not allowed, got {text}")


def _no_constant(text: str) -> Any:
    raise CanonicalError(f"{text} is not allowed")


def strict_loads(data: bytes | str) -> Any:
    """Parse JSON refusing duplicate keys, floats, NaN and Infinity (but not checking order)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise CanonicalError(f"not valid UTF-8 at byte {exc.start}") from exc
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise CanonicalError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise CanonicalError("JSON nested too deeply") from exc


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical; refuse them if re-encoding differs."""
    value = strict_loads(data)
    if _json_bytes(value) != data:
        raise CanonicalError("bytes are valid JSON but not in canonical form")
    return value
