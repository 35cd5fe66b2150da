"""Encryption of personal openings under per-case data keys (crypto-shredding, DESIGN §2).

Each case gets its own random AES-256-GCM data key, stored wrapped by the deployment's master
key. Erasing a case deletes its wrapped key and sealed rows: the commitments in the log stay
valid while the clear values become unrecoverable.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import VerificationError
from ledger.filemodes import private_dir
from ledger.vault.commitments import Opening

_NONCE = 12


class VaultError(VerificationError):
    """A sealed value or key could not be opened (wrong key, tampered row)."""


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    try:
        return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except (InvalidTag, ValueError) as exc:
        raise VaultError(f"cannot open sealed value for {aad.decode(errors='replace')}") from exc


@dataclass(frozen=True, slots=True)
class CaseKey:
    """The data key of one case; `aad` binds every sealed row to its case, entry and field."""

    case_id: str
    key: bytes
    # One cipher object per key: building it (key schedule) cost as much as the sealing.
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.key))

    @classmethod
    def generate(cls, case_id: str) -> CaseKey:
        return cls(case_id, AESGCM.generate_key(bit_length=256))

    def seal_opening(self, case_seq: int, field: str, opening: Opening) -> bytes:
        # The plaintext is only ever decrypted and parsed as JSON, never hashed: any JSON
        # encoder will do (rows sealed by json.dumps, with spaces, read the same).
        plain = orjson.dumps({"value": opening.value, "salt": opening.salt.hex()})
        return _seal(self._aead, plain, f"{self.case_id}/{case_seq}/{field}".encode())

    def open_opening(self, case_seq: int, field: str, sealed: bytes) -> Opening:
        plain = _open(self._aead, sealed, f"{self.case_id}/{case_seq}/{field}".encode())
        obj = orjson.loads(plain)
        return Opening(value=obj["value"], salt=bytes.fromhex(obj["salt"]))


@dataclass(frozen=True, slots=True)
class MasterKey:
    """Wraps case keys; lives in a file outside the database (mode 0600)."""

    key: bytes
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.key))

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_text(cls, text: str, where: str) -> MasterKey:
        """Parse the key file's content: 64 hex digits (and a newline)."""
        try:
            data = bytes.fromhex(text.strip())
        except ValueError:
            raise VaultError(
                f"{where}: expected the vault master key as 64 hex digits, found other text; "
                "is this the right file?"
            ) from None
        if len(data) != 32:
            raise VaultError(
                f"{where}: expected a 32-byte vault master key (64 hex digits), found "
                f"{len(data)} bytes"
            )
        return cls(data)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        """Read the key file; FileNotFoundError if absent, VaultError if it is not a key."""
        with path.open("rb") as f:
            raw = f.read(4097)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = "not hex"
        return cls.from_text(text if len(raw) <= 4096 else "too long", str(path))

    def to_text(self) -> str:
        """The key file's content (a SECRET)."""
        return self.key.hex() + "\n"

    def save(self, path: Path) -> bool:
        """Write the key file with mode 0600 unless one exists; False if one did.

        A private temporary name per process (mkstemp: O_EXCL), then link(): several processes
        starting at once all end up with the one key that won the race, and an existing key
        is never overwritten.
        """
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vault-key-")
        try:
            try:
                os.fchmod(fd, 0o600)  # mkstemp's mode is filtered by the umask: make it exact
                os.write(fd, self.to_text().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        finally:
            os.unlink(tmp)
        return True

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        return key if key.save(path) else cls.load(path)

    def __repr__(self) -> str:
        return "MasterKey(<secret>)"  # no key material in logs and tracebacks

    def wrap(self, case_key: CaseKey) -> bytes:
        return _seal(self._aead, case_key.key, f"case-key/{case_key.case_id}".encode())

    def unwrap(self, case_id: str, wrapped: bytes) -> CaseKey:
        raw = _open(self._aead, wrapped, f"case-key/{case_id}".encode())
        return CaseKey(case_id, raw)
