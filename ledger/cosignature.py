"""C2SP witness cosignatures (https://c2sp.org/tlog-cosignature, `cosignature/v1`, Ed25519) and
the body of a C2SP tlog-witness `add-checkpoint` request (https://c2sp.org/tlog-witness).

Pure functions and small key classes, like :mod:`ledger.signing`; no I/O but the key file.

Wire formats::

    key id    = SHA-256(name || "\\n" || 0x04 || public key[32])[:4]
    vkey      = <name> "+" <8 hex key id> "+" base64(0x04 || public key[32])
    message   = "cosignature/v1\\n" "time " <T> "\\n" <checkpoint body, final newline included>
    sig line  = "— " <name> " " base64(key id[4] || T as u64 big-endian || ed25519 sig[64]) "\\n"
    key file  = "PRIVATE+KEY+" <name> "+" <8 hex key id> "+" base64(0x04 || seed[32]) "\\n"

    add-checkpoint body = "old " <N> "\\n" (base64 hash "\\n")* "\\n" <signed checkpoint note>

A cosignature says: at time T, the largest consistent tree head the witness has seen for this
origin is this one. It is a note signature over the checkpoint's body, so it can sit beside the
log's own signature in one note; Go's note.Open, given the log key alone, ignores it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import HASH_SIZE, CheckpointError
from ledger.signing import (
    KEY_ID_SIZE,
    MAX_NOTE_SIZE,
    PUBLIC_KEY_SIZE,
    SEED_SIZE,
    SIGNATURE_SIZE,
    InvalidKeyError,
    KeyFileError,
    KeyFileExistsError,
    _b64decode_strict,
    _check_name,
    _clip,
    _ed25519_public,
    _fsync_dir,
    _name_problem,
    check_key_id,
    split_verifier_key,
)

__all__ = [
    "ALG_COSIGNATURE_V1",
    "MAX_PROOF_LINES",
    "AddCheckpoint",
    "CosignatureError",
    "CosignatureVerifier",
    "MalformedRequestError",
    "WitnessKey",
    "add_checkpoint_body",
    "cosignature_key_id",
    "cosignature_message",
    "parse_add_checkpoint",
    "parse_cosignature_line",
    "verify_cosignature",
]

ALG_COSIGNATURE_V1 = 0x04
# tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
MAX_TIMESTAMP = 2**63 - 1
_SIG_PREFIX = "\u2014 "
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX8_RE = re.compile(r"[0-9a-fA-F]{8}")
_SIZE_RE = re.compile(r"(?:0|[1-9][0-9]{0,19})")
_COSIG_SIZE = KEY_ID_SIZE + 8 + SIGNATURE_SIZE
_MAX_KEY_FILE_SIZE = 4096


class CosignatureError(CheckpointError):
    """A cosignature (or a witness key) is malformed, by another key, or does not verify."""


class MalformedRequestError(CosignatureError):
    """An add-checkpoint body does not follow the tlog-witness format."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || "\\n" || 0x04 || public key)[:4]: differs from the same key's note id."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key
    ).digest()[:KEY_ID_SIZE]


def cosignature_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """What a cosigner signs: the header, the time line and the checkpoint body."""
    if not checkpoint_body.endswith(b"\n"):
        raise CosignatureError(
            "checkpoint body: expected the note text ending with a newline (origin, size and "
            f"root lines), found {_clip(checkpoint_body[-20:].decode('utf-8', 'replace'))}"
        )
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature time: expected 0 <= T <= 2**63-1, found {timestamp}")
    return b"cosignature/v1\ntime %d\n" % timestamp + checkpoint_body


# --------------------------------------------------------------------------- verifier


class CosignatureVerifier:
    """A witness's public key, as in its vkey `<name>+<id>+base64(0x04 || key)`."""

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name, "witness key name")
        if len(public_key) != PUBLIC_KEY_SIZE:
            raise InvalidKeyError(
                f"Ed25519 public key: expected {PUBLIC_KEY_SIZE} bytes, found {len(public_key)}"
            )
        self._name = name
        self._public_key = bytes(public_key)
        self._key_id = cosignature_key_id(name, self._public_key)
        self._key = _ed25519_public(self._public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        hint = "copy the witness's verifier key as `temoin witness key` prints it"
        name, key_id, public = split_verifier_key(
            vkey, what="witness key", alg=ALG_COSIGNATURE_V1, alg_name="cosignature/v1 Ed25519",
            hint=hint, private_advice="give the witness's verifier key",
            other_algs={0x01: " (0x01 is a log's note key: a witness key is the one `temoin "
                              "witness key` prints)"},
        )
        verifier = cls(name, public)
        check_key_id(verifier.key_id, key_id, "witness key", hint)
        return verifier

    def __str__(self) -> str:
        raw = bytes([ALG_COSIGNATURE_V1]) + self._public_key
        return f"{self._name}+{self._key_id.hex()}+{_b64(raw)}"

    def __repr__(self) -> str:
        return f"CosignatureVerifier.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CosignatureVerifier):
            return NotImplemented
        return (self._name, self._public_key) == (other._name, other._public_key)

    def __hash__(self) -> int:
        return hash((self._name, self._public_key))

    def verify(self, line: str, checkpoint_body: bytes) -> int:
        """Check one signature line over `checkpoint_body`; return its time T (POSIX seconds)."""
        name, key_id, timestamp, signature = parse_cosignature_line(line)
        if name != self._name or key_id != self._key_id:
            raise CosignatureError(
                f"cosignature: expected a line by {self._name}+{self._key_id.hex()}, found one "
                f"by {name}+{key_id.hex()}; it is another witness's (or a note signature)"
            )
        try:
            self._key.verify(signature, cosignature_message(checkpoint_body, timestamp))
        except InvalidSignature:
            raise CosignatureError(
                f"cosignature by {self._name}: expected a valid Ed25519 signature over "
                f"cosignature/v1 time {timestamp} and the checkpoint, found one that does not "
                "verify; the checkpoint or the line was altered, or it cosigns another checkpoint"
            ) from None
        return timestamp


def parse_cosignature_line(line: str) -> tuple[str, bytes, int, bytes]:
    """`— name base64(...)` (final newline optional) -> (name, key id, time, signature)."""
    if not isinstance(line, str):
        raise TypeError(f"cosignature line: expected str, found {type(line).__name__}")
    text = line[:-1] if line.endswith("\n") else line
    if not text.startswith(_SIG_PREFIX) or "\n" in text:
        raise CosignatureError(
            f"cosignature line: expected one line '— <witness name> <base64>', found "
            f"{_clip(text)}"
        )
    name, _, sig_b64 = text[len(_SIG_PREFIX):].partition(" ")
    problem = _name_problem(name)
    if problem is not None:
        raise CosignatureError(
            f"cosignature line: expected a key name, found {_clip(name)}: {problem}"
        )
    raw = _b64decode_strict(sig_b64) if sig_b64 else None
    if raw is None:
        raise CosignatureError(
            f"cosignature line: expected standard padded base64 after the name, found "
            f"{_clip(sig_b64)}"
        )
    if len(raw) != _COSIG_SIZE:
        raise CosignatureError(
            f"cosignature line: expected {_COSIG_SIZE} bytes (4-byte key id, 8-byte time, "
            f"64-byte Ed25519 signature), found {len(raw)}; not a cosignature/v1 line"
        )
    (timestamp,) = struct.unpack(">Q", raw[KEY_ID_SIZE:KEY_ID_SIZE + 8])
    if timestamp > MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature time: expected at most 2**63-1, found {timestamp}")
    return name, raw[:KEY_ID_SIZE], timestamp, raw[KEY_ID_SIZE + 8:]


def verify_cosignature(line: str, checkpoint_body: bytes, vkey: str) -> int:
    """Verify a witness's cosignature line over a checkpoint body (the note text before the
    blank line, final newline included) with its vkey; return the time it states.

    For offline verifiers (bundles): raises InvalidKeyError or CosignatureError.
    """
    return CosignatureVerifier.parse(vkey).verify(line, checkpoint_body)


# --------------------------------------------------------------------------- signer


class WitnessKey:
    """A witness's Ed25519 cosigning key and its name."""

    __slots__ = ("_key_id", "_name", "_private", "_public_key", "_seed")

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name, "witness key name")
        if len(seed) != SEED_SIZE:
            raise InvalidKeyError(f"Ed25519 seed: expected {SEED_SIZE} bytes, found {len(seed)}")
        self._name = name
        self._seed = bytes(seed)
        self._private = Ed25519PrivateKey.from_private_bytes(self._seed)
        self._public_key = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key_id = cosignature_key_id(name, self._public_key)

    @classmethod
    def generate(cls, name: str) -> WitnessKey:
        return cls(name, secrets.token_bytes(SEED_SIZE))

    @property
    def name(self) -> str:
        return self._name

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self._name, self._public_key)

    @property
    def verifier_key(self) -> str:
        return str(self.verifier())

    def __repr__(self) -> str:
        return f"WitnessKey(name={self._name!r}, key_id={self._key_id.hex()!r})"

    def cosign(self, checkpoint_body: bytes, timestamp: int) -> str:
        """The signature line (final newline included) over `checkpoint_body` at `timestamp`."""
        signature = self._private.sign(cosignature_message(checkpoint_body, timestamp))
        raw = self._key_id + struct.pack(">Q", timestamp) + signature
        return f"{_SIG_PREFIX}{self._name} {_b64(raw)}\n"

    def _signer_key(self) -> str:
        raw = bytes([ALG_COSIGNATURE_V1]) + self._seed
        return f"{_PRIVATE_PREFIX}{self._name}+{self._key_id.hex()}+{_b64(raw)}"

    @classmethod
    def load(cls, path: Path) -> WitnessKey:
        with path.open("rb") as f:
            data = f.read(_MAX_KEY_FILE_SIZE + 1)
        where = f"witness key file {path}"
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise KeyFileError(f"{where}: expected one line 'PRIVATE+KEY+...', found binary "
                               "data") from None
        line = text[:-1] if text.endswith("\n") else text
        parts = line[len(_PRIVATE_PREFIX):].split("+", 2) if line.startswith(
            _PRIVATE_PREFIX) else []
        raw = _b64decode_strict(parts[2]) if len(parts) == 3 else None
        if (len(data) > _MAX_KEY_FILE_SIZE or raw is None or len(raw) != 1 + SEED_SIZE
                or raw[0] != ALG_COSIGNATURE_V1 or _HEX8_RE.fullmatch(parts[1]) is None):
            raise KeyFileError(
                f"{where}: expected 'PRIVATE+KEY+<name>+<key id>+base64(0x04 || seed)', found "
                "something else; restore the file from backup or move it away to make a new key"
            )
        key = cls(parts[0], raw[1:])
        if key._key_id.hex() != parts[1].lower():
            raise KeyFileError(f"{where}: key id {parts[1]} does not match the key; the file "
                               "was edited or corrupted")
        return key

    def save(self, path: Path) -> None:
        """Write the key file with mode 0600; never overwrite one (O_EXCL)."""
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise KeyFileExistsError(f"witness key file {path}: exists; refusing to overwrite "
                                     "a witness key") from None
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (self._signer_key() + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(path.parent)

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> tuple[WitnessKey, bool]:
        """The key at `path`, created with `name` if missing; (key, created)."""
        try:
            return cls.load(path), False
        except FileNotFoundError:
            key = cls.generate(name)
            try:
                key.save(path)
            except KeyFileExistsError:
                return cls.load(path), False
            return key, True


# --------------------------------------------------------------------------- add-checkpoint


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old_size: int
    proof: list[bytes]
    note: bytes  # the signed checkpoint note, as sent


def add_checkpoint_body(old_size: int, proof: list[bytes], note: bytes) -> bytes:
    """The body of POST <witness>/add-checkpoint."""
    lines = [f"old {old_size}\n".encode()]
    lines += [base64.b64encode(h) + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + note


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body strictly; MalformedRequestError names what is wrong."""
    if len(body) > MAX_NOTE_SIZE:
        raise MalformedRequestError(
            f"request body: expected at most {MAX_NOTE_SIZE} bytes, found {len(body)}"
        )
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise MalformedRequestError(
            "request body: expected 'old N', the consistency proof lines, a blank line, then "
            "the signed checkpoint; found no blank line"
        )
    lines = head.split(b"\n")
    first = lines[0].decode("ascii", "replace")
    if not first.startswith("old ") or _SIZE_RE.fullmatch(first[4:]) is None:
        raise MalformedRequestError(
            f"request body: expected a first line 'old <decimal size>' (no leading zeros), "
            f"found {_clip(first)}"
        )
    old_size = int(first[4:])
    if old_size > 2**64 - 1:
        raise MalformedRequestError(f"old size: expected at most 2**64-1, found {old_size}")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedRequestError(
            f"consistency proof: expected at most {MAX_PROOF_LINES} lines, found "
            f"{len(proof_lines)}"
        )
    proof: list[bytes] = []
    for number, raw_line in enumerate(proof_lines, start=1):
        text = raw_line.decode("ascii", "replace")
        digest = _b64decode_strict(text)
        if digest is None or len(digest) != HASH_SIZE:
            raise MalformedRequestError(
                f"consistency proof line {number}: expected the base64 of a 32-byte hash, "
                f"found {_clip(text)}"
            )
        proof.append(digest)
    if old_size == 0 and proof:
        raise MalformedRequestError(
            f"consistency proof: expected no lines when old is 0, found {len(proof)}"
        )
    return AddCheckpoint(old_size, proof, note)
