"""The canonical encoder's fast path (orjson) must write exactly the reference bytes (json)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import CanonicalError, _json_bytes, canonical_bytes, parse_canonical


def test_every_code_point_encodes_as_the_reference_does() -> None:
    # Escapes are where two JSON encoders differ, if anywhere: try every scalar value, alone
    # and between ASCII neighbours.
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        for text in (chr(cp), f'a"{chr(cp)}\\z'):
            got, want = canonical_bytes(text), _json_bytes(text)
            assert got == want, f"U+{cp:04X}: got {got!r}, want {want!r}"


_keys = st.text(st.characters(max_codepoint=127), max_size=8)
_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(_values)
def test_fast_path_matches_the_reference_on_any_json_value(value: Any) -> None:
    got = canonical_bytes(value)
    assert got == _json_bytes(value)
    assert parse_canonical(got) == value


def test_integers_beyond_64_bits_take_the_reference_path() -> None:
    assert canonical_bytes({"n": 2**80}) == b'{"n":1208925819614629174706176}'


def test_deep_nesting_takes_the_reference_path() -> None:
    value: Any = 0
    for _ in range(400):  # orjson stops at 255 levels
        value = [value]
    assert canonical_bytes(value) == b"[" * 400 + b"0" + b"]" * 400


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, 2.5]}, "$.a[1]: floats are not allowed"),
        ({"a": {"b": "x\ud800"}}, "$.a.b: string is not valid UTF-8"),
        ({"é": 1}, "object keys must be ASCII strings"),
        ({1: 1}, "object keys must be ASCII strings"),
        ({"a": {1, 2}}, "$.a: set is not a JSON value"),
    ],
)
def test_refusals_name_the_place(value: Any, message: str) -> None:
    with pytest.raises(CanonicalError, match=message.replace("[", r"\[").replace("$", r"\$")):
        canonical_bytes(value)
