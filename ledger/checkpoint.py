"""The C2SP tlog-checkpoint note body (https://c2sp.org/tlog-checkpoint).

A checkpoint body is exactly three lines, each ending in ``\\n``::

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 (standard, padded) of the 32-byte RFC 9162 root hash>

The body is what the log signs (see :mod:`ledger.signing`), so it must have a
single byte encoding: the parser refuses every variant that :meth:`Checkpoint.to_body`
would not produce, which keeps "verified checkpoint" and "bytes we emit" the same thing.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ledger.errors import VerificationError

__all__ = [
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "CheckpointError",
    "MalformedCheckpointError",
]

HASH_SIZE = 32
# RFC 9162 carries tree_size as uint64; anything larger cannot be a real log.
MAX_TREE_SIZE = 2**64 - 1

# ASCII digits only: str.isdigit()/int() would also accept "٣" or "+3" or "3_0".
_SIZE_RE = re.compile(r"(?:0|[1-9][0-9]*)")
_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class CheckpointError(VerificationError, ValueError):
    """Base class of every checkpoint / signed-note failure.

    Subclasses ValueError so that callers validating untrusted input can catch
    one familiar type; the subclasses say which check failed.
    """


class MalformedCheckpointError(CheckpointError):
    """The checkpoint body does not follow the tlog-checkpoint format."""


def _clip(s: str, limit: int = 60) -> str:
    """repr() of s, shortened so that hostile input cannot flood error messages."""
    return repr(s) if len(s) <= limit else repr(s[:limit]) + "..."


def _has_control_char(s: str) -> bool:
    # Signed notes forbid ASCII control characters other than newline, so an
    # origin carrying one could never be signed or verified.
    return any(ord(c) < 0x20 for c in s)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin (the log identity), tree size and root hash."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        # Wrong Python types are programming errors (TypeError); wrong values
        # may come from untrusted input (MalformedCheckpointError).
        if not isinstance(self.origin, str):
            raise TypeError(f"checkpoint origin: expected str, found {type(self.origin).__name__}")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            # bool is an int subclass; True as a tree size is always a bug.
            raise TypeError(f"checkpoint size: expected int, found {type(self.size).__name__}")
        if not isinstance(self.root, bytes):
            raise TypeError(
                f"checkpoint root: expected bytes, found {type(self.root).__name__}; "
                "pass the raw 32-byte digest"
            )
        if not self.origin:
            raise MalformedCheckpointError(
                "checkpoint origin: expected a non-empty string, found ''; "
                "use the log's origin, e.g. 'example.com/log'"
            )
        if "\n" in self.origin or _has_control_char(self.origin):
            raise MalformedCheckpointError(
                f"checkpoint origin: expected a single line without control characters, "
                f"found {_clip(self.origin)}; remove the newline/control character from the origin"
            )
        try:
            self.origin.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (e.g. from os.fsdecode) have no UTF-8 encoding.
            raise MalformedCheckpointError(
                f"checkpoint origin: expected valid Unicode text, found {_clip(self.origin)} "
                "(lone surrogate)"
            ) from None
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpointError(
                f"checkpoint size: expected 0 <= size <= 2**64-1, found {self.size}"
            )
        if len(self.root) != HASH_SIZE:
            raise MalformedCheckpointError(
                f"checkpoint root: expected {HASH_SIZE} bytes (a SHA-256 Merkle root), "
                f"found {len(self.root)} bytes; pass the raw digest, not its hex or base64 text"
            )

    def to_body(self) -> bytes:
        """The exact note text that gets signed, final newline included."""
        root_b64 = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root_b64}\n".encode()

    @classmethod
    def parse_body(cls, body: bytes) -> Checkpoint:
        """Parse a checkpoint body strictly; raise MalformedCheckpointError otherwise.

        Only call this on a body whose signature was verified (verify_checkpoint
        does both): a parsed but unverified checkpoint proves nothing.
        """
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"checkpoint body: expected bytes, found {type(body).__name__}")
        raw = bytes(body)
        try:
            text = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise MalformedCheckpointError(
                f"checkpoint body: expected UTF-8 text, found invalid byte at offset "
                f"{exc.start}; the checkpoint is corrupt, fetch it again"
            ) from None
        if not text.endswith("\n"):
            raise MalformedCheckpointError(
                f"checkpoint body: expected every line to end with '\\n', found the body "
                f"ending with {text[-20:]!r}; the checkpoint was truncated or re-encoded"
            )
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError(
                f"checkpoint body: expected 3 lines (origin, size, root hash), found "
                f"{len(lines)}: {_clip(text)}"
            )
        if len(lines) > 3:
            # The spec allows opaque extension lines, but monitors cannot audit
            # them and Témoin never writes any, so one showing up means the
            # checkpoint did not come from a Témoin log (or a newer one).
            raise MalformedCheckpointError(
                f"checkpoint body: expected exactly 3 lines, found {len(lines) - 3} extension "
                f"line(s) after the root hash ({_clip(lines[3])}...); extension lines are not "
                "supported by this version of Témoin"
            )
        origin_line, size_line, root_line = lines
        if "\r" in text:
            raise MalformedCheckpointError(
                "checkpoint body: expected '\\n' line endings, found '\\r' (CRLF?); the "
                "checkpoint was altered in transit, fetch the original bytes"
            )
        if not origin_line:
            raise MalformedCheckpointError(
                "checkpoint origin: expected a non-empty first line, found an empty line"
            )
        if _SIZE_RE.fullmatch(size_line) is None:
            raise MalformedCheckpointError(
                f"checkpoint size: expected a decimal number without sign or leading zeros, "
                f"found {_clip(size_line)}"
            )
        # Length check first: int() of a huge digit string is slow (and capped
        # by sys.int_info.str_digits_check_threshold), and 2**64-1 has 20 digits.
        if len(size_line) > 20 or int(size_line) > MAX_TREE_SIZE:
            raise MalformedCheckpointError(
                f"checkpoint size: expected at most 2**64-1, found {_clip(size_line)}"
            )
        root = _decode_root(root_line)
        return cls(origin=origin_line, size=int(size_line), root=root)


def _decode_root(line: str) -> bytes:
    # binascii is lenient (it skips non-alphabet characters and accepts
    # missing padding in some cases); check the alphabet and padding first.
    if _B64_RE.fullmatch(line) is None or len(line) % 4 != 0:
        raise MalformedCheckpointError(
            f"checkpoint root hash: expected standard padded base64, found {_clip(line)}"
        )
    try:
        root = base64.b64decode(line, validate=True)
    except binascii.Error as exc:
        raise MalformedCheckpointError(
            f"checkpoint root hash: expected standard padded base64, found {_clip(line)} ({exc})"
        ) from None
    if len(root) != HASH_SIZE:
        raise MalformedCheckpointError(
            f"checkpoint root hash: expected {HASH_SIZE} bytes, found {len(root)} bytes "
            f"in {_clip(line)}"
        )
    # Reject non-canonical encodings (non-zero trailing bits) so that a body
    # has exactly one accepted spelling per root.
    if base64.b64encode(root).decode("ascii") != line:
        raise MalformedCheckpointError(
            f"checkpoint root hash: expected canonical base64, found {_clip(line)} "
            "(non-zero padding bits)"
        )
    return root
