"""The tlog-checkpoint body: exact bytes out, strict parsing in."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointError,
    MalformedCheckpointError,
)

ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


def body(origin: str = "example.com/log", size: str = "3", root: str = ROOT_B64) -> bytes:
    return f"{origin}\n{size}\n{root}\n".encode()


# The 3-leaf RFC 9162 tree over b"a", b"b", b"c"; its base64 is the one Go's
# note.Sign signed in the golden vector of tests/test_signing.py.
GOLDEN_ROOT = bytes.fromhex("36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1")
GOLDEN_BODY = b"example.com/log\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n"


def test_golden_body_bytes() -> None:
    assert Checkpoint("example.com/log", 3, GOLDEN_ROOT).to_body() == GOLDEN_BODY
    assert Checkpoint.parse_body(GOLDEN_BODY) == Checkpoint("example.com/log", 3, GOLDEN_ROOT)


def test_golden_root_is_the_rfc9162_root_of_abc() -> None:
    leaf = [hashlib.sha256(b"\x00" + d).digest() for d in (b"a", b"b", b"c")]
    left = hashlib.sha256(b"\x01" + leaf[0] + leaf[1]).digest()
    assert hashlib.sha256(b"\x01" + left + leaf[2]).digest() == GOLDEN_ROOT


@pytest.mark.parametrize("size", [0, 1, 9, 10, 20852163, 2**63 - 1, MAX_TREE_SIZE])
def test_round_trip_sizes(size: int) -> None:
    cp = Checkpoint("example.com/log", size, ROOT)
    raw = cp.to_body()
    assert raw == body(size=str(size))
    assert Checkpoint.parse_body(raw) == cp


def test_empty_tree_is_size_zero() -> None:
    empty = hashlib.sha256(b"").digest()
    cp = Checkpoint.parse_body(body(size="0", root=base64.b64encode(empty).decode()))
    assert (cp.size, cp.root) == (0, empty)


def test_non_ascii_origin_round_trips_as_utf8() -> None:
    cp = Checkpoint("témoin.example/journal", 7, ROOT)
    assert cp.to_body().startswith("témoin.example/journal\n".encode())
    assert Checkpoint.parse_body(cp.to_body()) == cp


def test_parse_accepts_bytearray_and_memoryview() -> None:
    assert Checkpoint.parse_body(bytearray(GOLDEN_BODY)).size == 3
    assert Checkpoint.parse_body(memoryview(GOLDEN_BODY)).size == 3


@given(
    origin=st.text(
        alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)),
        min_size=1,
        max_size=40,
    ),
    size=st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
)
def test_round_trip_property(origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin, size, root)
    raw = cp.to_body()
    assert raw.count(b"\n") == 3 and raw.endswith(b"\n")
    assert Checkpoint.parse_body(raw) == cp


def _flip_last_bits(b64: str) -> str:
    # 32 bytes -> 43 chars + "=": the last char carries 2 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(b64[42])
    return b64[:42] + alphabet[last | 1] + "="


REJECTED: dict[str, bytes] = {
    "missing final newline": body()[:-1],
    "two lines": b"example.com/log\n3\n",
    "extension line": body() + b"extension\n",
    "empty extension line": body() + b"\n",
    "empty origin": body(origin=""),
    "crlf line endings": body().replace(b"\n", b"\r\n"),
    "cr in origin": body(origin="example.com/log\r"),
    "tab in origin": body(origin="example.com\tlog"),
    "non-utf8 origin": b"example.com/\xfflog\n3\n" + ROOT_B64.encode() + b"\n",
    "size leading zero": body(size="03"),
    "size double zero": body(size="00"),
    "size plus sign": body(size="+3"),
    "size negative": body(size="-3"),
    "size leading space": body(size=" 3"),
    "size trailing space": body(size="3 "),
    "size empty": body(size=""),
    "size hex": body(size="0x3"),
    "size underscore": body(size="1_000"),
    "size arabic-indic digit": body(size="\u0663"),
    "size fullwidth digit": body(size="\uff13"),
    "size 2**64": body(size=str(2**64)),
    "size 5000 digits": body(size="9" * 5000),
    "root 31 bytes": body(root=base64.b64encode(ROOT[:31]).decode()),
    "root 33 bytes": body(root=base64.b64encode(ROOT + b"\0").decode()),
    "root empty": body(root=""),
    "root unpadded": body(root=ROOT_B64.rstrip("=")),
    "root urlsafe alphabet": body(root=base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()),
    "root hex": body(root=ROOT.hex()),
    "root with space": body(root=ROOT_B64[:10] + " " + ROOT_B64[10:]),
    "root non-canonical bits": body(root=_flip_last_bits(ROOT_B64)),
    "blank middle line": f"example.com/log\n\n{ROOT_B64}\n".encode(),
}


@pytest.mark.parametrize("raw", REJECTED.values(), ids=REJECTED.keys())
def test_parse_rejects(raw: bytes) -> None:
    with pytest.raises(MalformedCheckpointError) as info:
        Checkpoint.parse_body(raw)
    message = str(info.value)
    assert "expected" in message and "found" in message
    assert len(message) < 400  # clipped, even for the 5000-digit size


def test_non_canonical_fixture_really_decodes_to_32_bytes() -> None:
    # Guards the "non-canonical bits" case above: it must fail for the
    # canonicality rule, not for being undecodable.
    assert len(base64.b64decode(_flip_last_bits(ROOT_B64), validate=True)) == 32


def test_extension_lines_error_says_unsupported() -> None:
    with pytest.raises(MalformedCheckpointError, match="extension"):
        Checkpoint.parse_body(body() + b"ext\n")


def test_root_31_bytes_error_names_got_and_want() -> None:
    with pytest.raises(MalformedCheckpointError, match=r"expected 32 bytes, found 31 bytes"):
        Checkpoint.parse_body(body(root=base64.b64encode(ROOT[:31]).decode()))


def test_errors_are_value_errors() -> None:
    assert issubclass(MalformedCheckpointError, CheckpointError)
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        ("a\x00b", 1, ROOT),
        ("a\udc80", 1, ROOT),
        ("o", -1, ROOT),
        ("o", 2**64, ROOT),
        ("o", 1, ROOT[:31]),
        ("o", 1, ROOT + b"\0"),
    ],
)
def test_constructor_rejects_bad_values(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(MalformedCheckpointError):
        Checkpoint(origin, size, root)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        (b"o", 1, ROOT),
        ("o", True, ROOT),
        ("o", 1.0, ROOT),
        ("o", 1, ROOT.hex()),
        ("o", 1, bytearray(ROOT)),
    ],
)
def test_constructor_rejects_bad_types(origin: object, size: object, root: object) -> None:
    with pytest.raises(TypeError):
        Checkpoint(origin, size, root)  # type: ignore[arg-type]


def test_parse_rejects_str() -> None:
    with pytest.raises(TypeError):
        Checkpoint.parse_body(GOLDEN_BODY.decode())  # type: ignore[arg-type]


def test_checkpoint_is_immutable() -> None:
    cp = Checkpoint("o", 1, ROOT)
    with pytest.raises(AttributeError):
        cp.size = 2  # type: ignore[misc]
