"""Ed25519 C2SP signed notes (https://c2sp.org/signed-note) and the log's key.

This is the only module that touches Ed25519 primitives, so that key handling,
key-id derivation and note parsing are reviewed in one place.

Wire formats (byte-compatible with golang.org/x/mod/sumdb/note)::

    note      = text "\\n" signature-line+            ; text ends in "\\n"
    sig line  = "— " <key name> " " base64(key id[4] || ed25519 sig[64]) "\\n"
    key id    = SHA-256(key name || 0x0A || 0x01 || public key[32])[:4]
    vkey      = <name> "+" <8 hex key id> "+" base64(0x01 || public key[32])
    key file  = "PRIVATE+KEY+" <name> "+" <8 hex key id> "+" base64(0x01 || seed[32]) "\\n"

Verification follows the signed-note rules: lines by keys other than the
expected (name, key id) are ignored; at least one line by the expected key must
be present and every such line must verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.checkpoint import Checkpoint, CheckpointError, MalformedCheckpointError
from ledger.errors import ConfigurationError, ConflictError

__all__ = [
    "ALG_ED25519",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "BadSignatureError",
    "CheckpointError",
    "InvalidKeyError",
    "KeyFileError",
    "KeyFileExistsError",
    "KeyMismatchError",
    "LogKey",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "OriginMismatchError",
    "UnknownKeyError",
    "Verifier",
    "compute_key_id",
    "note_signers",
    "sign_checkpoint",
    "verify_checkpoint",
]

ALG_ED25519 = 0x01
SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4
# Same cap as Go's note.Open: bounds the work an attacker can make us do.
MAX_SIGNATURES = 100
# Checkpoints are ~200 bytes; the cap only exists so that a hostile peer
# cannot make us decode and scan megabytes of "note".
MAX_NOTE_SIZE = 1 << 20
# A key file holds one short line; anything bigger is not a key file.
_MAX_KEY_FILE_SIZE = 4096

_SIG_PREFIX = "\u2014 "  # em dash, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX8_RE = re.compile(r"[0-9a-fA-F]{8}")
_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# Go's unicode.IsSpace (the White_Space property). Key names must not contain
# any of these; str.isspace() alone differs from Go on a few code points.
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


# --------------------------------------------------------------------------- errors


class MalformedNoteError(CheckpointError):
    """The note is not a well-formed signed note (framing, encoding, base64...)."""


class KeyMismatchError(CheckpointError):
    """A key is not the one that was expected (other name or other key id)."""


class UnknownKeyError(KeyMismatchError):
    """The note carries no signature line by the expected key (name + key id)."""


class BadSignatureError(CheckpointError):
    """A signature line by the expected key does not verify: the note was altered."""


class OriginMismatchError(CheckpointError):
    """The checkpoint's origin is not the log that was expected."""


class InvalidKeyError(CheckpointError):
    """A verifier key or signer key string is malformed or inconsistent."""


class KeyFileError(ConfigurationError, CheckpointError):
    """A key file cannot be used (bad content, refused overwrite...)."""


class KeyFileExistsError(ConflictError, KeyFileError):
    """save() refused to overwrite an existing key file."""


# --------------------------------------------------------------------------- helpers


def _clip(s: str, limit: int = 60) -> str:
    """repr() of s, shortened so that hostile input cannot flood error messages."""
    return repr(s) if len(s) <= limit else repr(s[:limit]) + "..."


def _name_problem(name: str) -> str | None:
    """Why name is not a valid signed-note key name, or None if it is."""
    if not name:
        return "it is empty"
    if "+" in name:
        return "it contains '+'"
    for ch in name:
        if ch in _GO_SPACES or ch.isspace():
            return f"it contains the space character U+{ord(ch):04X}"
        if ord(ch) < 0x20:
            return f"it contains the control character U+{ord(ch):04X}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode (lone surrogate)"
    return None


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{what}: expected str, found {type(name).__name__}")
    problem = _name_problem(name)
    if problem is not None:
        raise InvalidKeyError(
            f"{what}: expected a non-empty name without spaces, '+' or control characters "
            f"(e.g. 'example.com/log'), found {_clip(name)}: {problem}"
        )


def _b64decode_strict(text: str) -> bytes | None:
    """Standard padded base64, as Go's base64.StdEncoding; None if invalid."""
    if _B64_RE.fullmatch(text) is None or len(text) % 4 != 0:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def compute_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key: SHA-256(name\\n 0x01 pk)[:4]."""
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()
    return digest[:KEY_ID_SIZE]


def _ed25519_public(public_key: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise InvalidKeyError(
            f"Ed25519 public key: expected a valid 32-byte key, found {public_key.hex()} ({exc})"
        ) from None


# --------------------------------------------------------------------------- verifier



def split_verifier_key(
    vkey: str, *, what: str, alg: int, alg_name: str, hint: str, private_advice: str,
    other_algs: dict[int, str] | None = None,
) -> tuple[str, bytes, bytes]:
    """(name, key id, public key) of ``<name>+<8 hex key id>+<base64(alg || key)>``: the one
    parser of log verifier keys (0x01) and witness keys (0x04), every refusal naming what was
    found and what to do (`hint`)."""
    if not isinstance(vkey, str):
        raise TypeError(f"{what}: expected str, found {type(vkey).__name__}")
    if vkey != vkey.strip():
        raise InvalidKeyError(
            f"{what}: expected no leading/trailing whitespace (without spaces), found "
            f"{_clip(vkey)}; strip the newline or spaces around it"
        )
    # Names cannot contain '+', so the first two '+' delimit the fields; the base64 key may
    # itself contain '+'.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise InvalidKeyError(
            f"{what}: expected '<name>+<8 hex key id>+<base64 key>', found {_clip(vkey)}; {hint}"
        )
    name, id_hex, key_b64 = parts
    if name == "PRIVATE":
        raise InvalidKeyError(
            f"{what}: expected a public verifier key, found a PRIVATE signer key; never share "
            f"that string: {private_advice}"
        )
    _check_name(name, f"{what} name")
    if _HEX8_RE.fullmatch(id_hex) is None:
        raise InvalidKeyError(
            f"{what}: expected an 8-hex-digit key id after the name, found {_clip(id_hex)}; "
            f"{hint}"
        )
    raw = _b64decode_strict(key_b64)
    if raw is None:
        raise InvalidKeyError(
            f"{what}: expected standard padded base64 key data, found {_clip(key_b64)}; {hint}"
        )
    if not raw or raw[0] != alg:
        found = f"0x{raw[0]:02x}" if raw else "nothing"
        advice = (other_algs or {}).get(raw[0], "") if raw else ""
        raise InvalidKeyError(
            f"{what}: expected algorithm byte 0x{alg:02x} ({alg_name}), found {found}"
            f"{advice}; only {alg_name} keys are supported here"
        )
    if len(raw) != 1 + PUBLIC_KEY_SIZE:
        raise InvalidKeyError(
            f"{what}: expected a {PUBLIC_KEY_SIZE}-byte Ed25519 key, found {len(raw) - 1} "
            f"bytes; {hint}"
        )
    return name, bytes.fromhex(id_hex), raw[1:]


def check_key_id(computed: bytes, stated: bytes, what: str, hint: str) -> None:
    if computed != stated:
        raise InvalidKeyError(
            f"{what}: expected key id {computed.hex()} (the hash of its name and key), found "
            f"{stated.hex()}; the key was edited or corrupted, {hint}"
        )

class Verifier:
    """A public key that checks signed notes: name, key id and Ed25519 public key."""

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name, "verifier key name")
        if not isinstance(public_key, bytes):
            raise TypeError(f"public key: expected bytes, found {type(public_key).__name__}")
        if len(public_key) != PUBLIC_KEY_SIZE:
            raise InvalidKeyError(
                f"Ed25519 public key: expected {PUBLIC_KEY_SIZE} bytes, found {len(public_key)}"
            )
        self._name = name
        self._public_key = public_key
        self._key_id = compute_key_id(name, public_key)
        self._key = _ed25519_public(public_key)

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
    def parse(cls, vkey: str) -> Verifier:
        """Parse a verifier key ``<name>+<8 hex key id>+<base64(0x01 || public key)>``."""
        name, key_id, public = split_verifier_key(
            vkey, what="verifier key", alg=ALG_ED25519, alg_name="Ed25519",
            hint="copy the log's verifier key exactly as published (one line, no spaces)",
            private_advice="use LogKey.load(...).verifier_key instead",
        )
        verifier = cls(name, public)
        check_key_id(verifier.key_id, key_id, "verifier key",
                     "copy the log's verifier key exactly as published (one line, no spaces)")
        return verifier

    def __str__(self) -> str:
        return f"{self._name}+{self._key_id.hex()}+{_b64(bytes([ALG_ED25519]) + self._public_key)}"

    def __repr__(self) -> str:
        return f"Verifier.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verifier):
            return NotImplemented
        return (self._name, self._public_key) == (other._name, other._public_key)

    def __hash__(self) -> int:
        return hash((self._name, self._public_key))

    def _describe(self) -> str:
        return f"{self._name}+{self._key_id.hex()}"

    def verify_note(self, note: bytes) -> bytes:
        """Verify a signed note against this key and return its text (the body).

        Raises MalformedNoteError, UnknownKeyError (no line by this key) or
        BadSignatureError (a line by this key does not verify).
        """
        body, signatures = _parse_note(note)
        mine = [s for s in signatures if s.name == self._name and s.key_id == self._key_id]
        if not mine:
            found = ", ".join(sorted({f"{s.name}+{s.key_id.hex()}" for s in signatures}))
            same_name = any(s.name == self._name for s in signatures)
            advice = (
                "the note was signed by another key with the same name: the log key was "
                "replaced or you hold an outdated verifier key"
                if same_name
                else "check that the note comes from this log and that you use its verifier key"
            )
            raise UnknownKeyError(
                f"signed note: expected a signature by {self._describe()}, found signatures "
                f"by {found}; {advice}"
            )
        # Stricter than Go's note.Open, which checks only the first line per
        # key: every line claiming to be ours must verify, since a second,
        # different line by a deterministic signer can only be a forgery.
        for sig in mine:
            if len(sig.signature) != SIGNATURE_SIZE:
                raise BadSignatureError(
                    f"signed note: expected a {SIGNATURE_SIZE}-byte Ed25519 signature by "
                    f"{self._describe()}, found {len(sig.signature)} bytes; the note was "
                    "altered, fetch it again from the log"
                )
            try:
                self._key.verify(sig.signature, body)
            except InvalidSignature:
                raise BadSignatureError(
                    f"signed note: expected a valid signature by {self._describe()} over the "
                    f"note text, found one that does not verify; the text or signature was "
                    "altered after signing, do not trust this note"
                ) from None
        return body


@dataclass(frozen=True, slots=True)
class _SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def _parse_note(note: bytes) -> tuple[bytes, list[_SignatureLine]]:
    """Split a signed note into its text and signature lines (no crypto yet)."""
    if not isinstance(note, bytes | bytearray | memoryview):
        raise TypeError(f"signed note: expected bytes, found {type(note).__name__}")
    raw = bytes(note)
    if len(raw) > MAX_NOTE_SIZE:
        raise MalformedNoteError(
            f"signed note: expected at most {MAX_NOTE_SIZE} bytes, found {len(raw)}"
        )
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError(
            f"signed note: expected UTF-8 text, found invalid byte 0x{raw[exc.start]:02x} at "
            f"offset {exc.start}; the note was corrupted or is not a signed note"
        ) from None
    for offset, ch in enumerate(text):
        if ord(ch) < 0x20 and ch != "\n":
            hint = (
                " (CRLF line endings? notes use '\\n' only; fetch the note as binary)"
                if ch == "\r"
                else ""
            )
            raise MalformedNoteError(
                f"signed note: expected no control characters other than newline, found "
                f"U+{ord(ch):04X} at character {offset}{hint}"
            )
    # The text may itself contain blank lines: the last one separates it from
    # the signatures, which never contain "\n\n".
    split = raw.rfind(b"\n\n")
    if split < 0:
        raise MalformedNoteError(
            "signed note: expected the text, a blank line, then signature lines; found no "
            "blank line, so the note is unsigned or truncated"
        )
    body, block = raw[: split + 1], raw[split + 2 :]
    if not block:
        raise MalformedNoteError(
            "signed note: expected at least one signature line after the blank line, found "
            "none; the note is unsigned or truncated"
        )
    if not block.endswith(b"\n"):
        raise MalformedNoteError(
            "signed note: expected the note to end with a newline, found "
            f"{_clip(block[-20:].decode())} at the end; the note was truncated or re-encoded"
        )
    lines = block[:-1].decode("utf-8").split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(
            f"signed note: expected at most {MAX_SIGNATURES} signature lines, found {len(lines)}"
        )
    return body, [_parse_signature_line(line, i + 1) for i, line in enumerate(lines)]


def _parse_signature_line(line: str, number: int) -> _SignatureLine:
    where = f"signed note, signature line {number}"
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError(
            f"{where}: expected '— <key name> <base64 signature>' starting with an em dash "
            f"(U+2014) and a space, found {_clip(line)}"
        )
    name, _, sig_b64 = line[len(_SIG_PREFIX) :].partition(" ")
    problem = _name_problem(name)
    if problem is not None:
        raise MalformedNoteError(f"{where}: expected a key name, found {_clip(name)}: {problem}")
    raw = _b64decode_strict(sig_b64) if sig_b64 else None
    if raw is None:
        raise MalformedNoteError(
            f"{where}: expected a standard padded base64 signature after the key name, "
            f"found {_clip(sig_b64)}"
        )
    if len(raw) < KEY_ID_SIZE + 1:
        raise MalformedNoteError(
            f"{where}: expected a 4-byte key id followed by a signature, found only "
            f"{len(raw)} bytes"
        )
    return _SignatureLine(name=name, key_id=raw[:KEY_ID_SIZE], signature=raw[KEY_ID_SIZE:])


def _check_body(body: bytes) -> None:
    """Refuse texts that could be signed but would never verify."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"note text: expected bytes, found {type(body).__name__}")
    raw = bytes(body)
    if not raw.endswith(b"\n"):
        raise MalformedNoteError(
            "note text: expected text ending with a newline, found "
            f"{_clip(raw[-20:].decode('utf-8', 'replace'))} at the end; append '\\n'"
        )
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError(
            f"note text: expected UTF-8, found invalid byte at offset {exc.start}"
        ) from None
    for offset, ch in enumerate(text):
        if ord(ch) < 0x20 and ch != "\n":
            raise MalformedNoteError(
                f"note text: expected no control characters other than newline, found "
                f"U+{ord(ch):04X} at character {offset}"
            )
    if len(raw) > MAX_NOTE_SIZE // 2:
        raise MalformedNoteError(
            f"note text: expected at most {MAX_NOTE_SIZE // 2} bytes, found {len(raw)}"
        )


# --------------------------------------------------------------------------- log key


class LogKey:
    """The log's Ed25519 signing key and its signed-note name (= the log origin)."""

    __slots__ = ("_key_id", "_name", "_private", "_public_key", "_seed")

    def __init__(self, name: str, seed: bytes) -> None:
        """Build a key from its 32-byte Ed25519 seed (the RFC 8032 private key)."""
        _check_name(name, "log key name")
        if not isinstance(seed, bytes):
            raise TypeError(f"seed: expected bytes, found {type(seed).__name__}")
        if len(seed) != SEED_SIZE:
            raise InvalidKeyError(f"Ed25519 seed: expected {SEED_SIZE} bytes, found {len(seed)}")
        self._name = name
        self._seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._public_key = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key_id = compute_key_id(name, self._public_key)

    @classmethod
    def generate(cls, name: str) -> LogKey:
        return cls(name, secrets.token_bytes(SEED_SIZE))

    @classmethod
    def from_signer_key(cls, skey: str) -> LogKey:
        """Parse ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>``."""
        if not isinstance(skey, str):
            raise TypeError(f"signer key: expected str, found {type(skey).__name__}")
        # Never echo the input: it is a secret.
        if not skey.startswith(_PRIVATE_PREFIX):
            raise InvalidKeyError(
                "signer key: expected a string starting with 'PRIVATE+KEY+', found something "
                "else; is this a verifier (public) key or another file?"
            )
        parts = skey[len(_PRIVATE_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise InvalidKeyError(
                "signer key: expected 'PRIVATE+KEY+<name>+<8 hex key id>+<base64 key>', "
                f"found {len(parts)} of the 3 fields after 'PRIVATE+KEY+'"
            )
        name, id_hex, key_b64 = parts
        _check_name(name, "signer key name")
        if _HEX8_RE.fullmatch(id_hex) is None:
            raise InvalidKeyError(
                f"signer key: expected an 8-hex-digit key id after the name, found "
                f"{len(id_hex)} characters {_clip(id_hex)}"
            )
        raw = _b64decode_strict(key_b64)
        if raw is None:
            raise InvalidKeyError(
                "signer key: expected standard padded base64 key data, found invalid base64"
            )
        if not raw or raw[0] != ALG_ED25519 or len(raw) != 1 + SEED_SIZE:
            found = f"algorithm 0x{raw[0]:02x}, {len(raw) - 1} bytes" if raw else "nothing"
            raise InvalidKeyError(
                f"signer key: expected algorithm 0x01 (Ed25519) and a {SEED_SIZE}-byte seed, "
                f"found {found}"
            )
        key = cls(name, raw[1:])
        if key.key_id != bytes.fromhex(id_hex):
            raise InvalidKeyError(
                f"signer key: expected key id {key.key_id.hex()} (the hash of its name and "
                f"key), found {id_hex}; the key was edited or corrupted, restore it from backup"
            )
        return key

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LogKey:
        """Read a key file written by save() (or by Go's note.GenerateKey)."""
        p = Path(path)
        with p.open("rb") as f:
            data = f.read(_MAX_KEY_FILE_SIZE + 1)
        if len(data) > _MAX_KEY_FILE_SIZE:
            raise KeyFileError(
                f"key file {p}: expected one short line, found more than "
                f"{_MAX_KEY_FILE_SIZE} bytes; is this the right file?"
            )
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise KeyFileError(
                    f"key file {p}: expected a text line 'PRIVATE+KEY+...', found binary data"
                ) from None
        # Tolerate exactly the one trailing newline that save() writes.
        line = text[:-1] if text.endswith("\n") else text
        try:
            return cls.from_signer_key(line)
        except InvalidKeyError as exc:
            raise KeyFileError(f"key file {p}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key file atomically with mode 0600; never overwrite one."""
        p = Path(path)
        if p.exists() or p.is_symlink():
            raise KeyFileExistsError(
                f"key file {p}: expected no file there, found one; refusing to overwrite a "
                "log key (losing it means the log can never sign again): move it away first"
            )
        data = (self.signer_key() + "\n").encode("utf-8")
        tmp = p.with_name(f".{p.name}.{secrets.token_hex(8)}.tmp")
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            try:
                # The mode given to os.open is filtered by the umask; make it exact.
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                # link() fails if the target exists, unlike rename(): this is
                # what makes "never overwrite" hold even against a racing writer.
                os.link(tmp, p)
            except FileExistsError:
                raise KeyFileExistsError(
                    f"key file {p}: expected no file there, found one (created concurrently); "
                    "refusing to overwrite a log key"
                ) from None
            except OSError:
                # Filesystems without hard links: fall back to rename, checking
                # first (a race remains, but only on such filesystems).
                if p.exists():
                    raise KeyFileExistsError(
                        f"key file {p}: expected no file there, found one; "
                        "refusing to overwrite a log key"
                    ) from None
                os.rename(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(p.parent)

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str], name: str) -> LogKey:
        """Load the log key at path, creating it (and a 0700 parent) on first use."""
        _check_name(name, "log key name")
        p = Path(path)
        try:
            key = cls.load(p)
        except FileNotFoundError:
            try:
                p.parent.mkdir(mode=0o700, parents=True)
            except FileExistsError:
                pass
            else:
                # mkdir's mode is filtered by the umask; the directory holds a
                # secret, so make it exactly owner-only.
                os.chmod(p.parent, 0o700)
            key = cls.generate(name)
            try:
                key.save(p)
            except KeyFileExistsError:
                # Another process created it between our load and save: use theirs,
                # so that both processes sign with the same key.
                key = cls.load(p)
        if key.name != name:
            raise KeyMismatchError(
                f"key file {p}: expected a key named {name!r}, found one named {key.name!r}; "
                "use the key file of this log or configure the matching log origin"
            )
        return key

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def verifier_key(self) -> str:
        """The public ``<name>+<key id>+<key>`` string to give to verifiers."""
        return str(self.verifier())

    def verifier(self) -> Verifier:
        return Verifier(self._name, self._public_key)

    def signer_key(self) -> str:
        """The SECRET key-file line; only for save() and for tests against Go."""
        return (
            f"{_PRIVATE_PREFIX}{self._name}+{self._key_id.hex()}+"
            f"{_b64(bytes([ALG_ED25519]) + self._seed)}"
        )

    def __repr__(self) -> str:
        # No key material: reprs end up in logs and tracebacks.
        return f"LogKey(name={self._name!r}, key_id={self._key_id.hex()!r})"

    def sign_note(self, body: bytes) -> bytes:
        """Sign body (which must end in a newline) and return the full note."""
        _check_body(body)
        text = bytes(body)
        signature = self._private.sign(text)
        line = f"{_SIG_PREFIX}{self._name} {_b64(self._key_id + signature)}\n"
        return text + b"\n" + line.encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    # Makes the new directory entry durable; not possible on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- checkpoints


def sign_checkpoint(key: LogKey, cp: Checkpoint) -> bytes:
    """Sign a checkpoint; the log's key name must equal the checkpoint origin."""
    if cp.origin != key.name:
        raise OriginMismatchError(
            f"sign checkpoint: expected origin {key.name!r} (the key name), found "
            f"{_clip(cp.origin)}; the log key name and the log origin must be the same"
        )
    return key.sign_note(cp.to_body())


def verify_checkpoint(note: bytes, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint it carries.

    origin defaults to the verifier's key name (a Témoin log signs with a key
    named after its origin). Raises a CheckpointError subclass on any failure.
    """
    expected = verifier.name if origin is None else origin
    body = verifier.verify_note(note)
    cp = Checkpoint.parse_body(body)
    if cp.origin != expected:
        raise OriginMismatchError(
            f"checkpoint: expected origin {expected!r}, found {_clip(cp.origin)}; this "
            "checkpoint belongs to another log, check which log you are talking to"
        )
    return cp


def note_signers(note: bytes) -> list[str]:
    """The ``<name>+<8 hex key id>`` of each signature line of a note (no crypto): what a
    note can say about the key that signed it when that key is not at hand."""
    _, signatures = _parse_note(note)
    return [f"{s.name}+{s.key_id.hex()}" for s in signatures]
