"""The key backup file (`temoin keys backup` / `temoin keys restore`): the key files of a
deployment in one JSON document, optionally sealed under a passphrase.

    {"format": "temoin.key-backup/v1", "origin": "<log origin>", "created_at": "<RFC 3339>",
     "verifier_keys": {"log.key": "<vkey>", "access.key": "<vkey>",
                       "logs/2/log.key": "<vkey>", "logs/2/access.key": "<vkey>"},
     "encryption": null,
     "keys": {"log.key": "PRIVATE+KEY+...", "access.key": "PRIVATE+KEY+...",
              "vault.key": "<64 hex>",
              "logs/2/log.key": "PRIVATE+KEY+...", "logs/2/access.key": "PRIVATE+KEY+..."}}

The keys of log 1 and the vault key are named as their files in the data folder; those of
another log of the database (issue 14 "Many logs") by their path under it, `logs/<id>/...`
(the log's origin is its key's name). A backup of a database with log 1 alone is what it
always was, and a release that knows nothing of other logs reads any backup (it takes the
three keys it knows and ignores the others).

With a passphrase, "keys" is replaced by "ciphertext": base64 of AES-256-GCM over the JSON of
"keys", under a key derived by scrypt; "encryption" holds the scrypt parameters, salt and
nonce, and the rest of the document is the authenticated data, so the public part (origin,
verifier keys) cannot be swapped either. The verifier keys stay readable without the
passphrase so that an operator can tell which log a backup belongs to.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.errors import ValidationError
from ledger.signing import CheckpointError, LogKey
from ledger.vault import MasterKey, VaultError

FORMAT = "temoin.key-backup/v1"
FILES = ("log.key", "access.key", "vault.key")
# scrypt at 128 MiB and ~0.3 s here (the OWASP minimum, N=2^17, r=8, p=1). Stored in the file;
# what a file may ask for is capped so that a hostile one cannot exhaust memory.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
_MAX_N, _MAX_R, _MAX_P = 2**20, 16, 4
MAX_FILE_SIZE = 64 * 1024


class BackupError(ValidationError):
    """The backup file or passphrase cannot be used; the message says why and what to do."""


_OTHER_LOG_KEY = re.compile(r"logs/([1-9][0-9]{0,8})/(log|access)\.key")


@dataclass(frozen=True, slots=True)
class LogKeys:
    """The two signing keys of a log other than 1: its case log's and its access journal's."""

    log_id: int
    log: LogKey
    access: LogKey

    @property
    def origin(self) -> str:
        return self.log.name

    def names(self) -> tuple[str, str]:
        """Their names in the backup: their paths under the data folder."""
        return f"logs/{self.log_id}/log.key", f"logs/{self.log_id}/access.key"


@dataclass(frozen=True, slots=True)
class KeySet:
    """The secrets of one deployment: log 1's keys, the vault key, and every other log's."""

    origin: str
    log: LogKey
    access: LogKey
    vault: MasterKey
    others: tuple[LogKeys, ...] = ()

    def secrets(self) -> dict[str, str]:
        out = {
            "log.key": self.log.signer_key() + "\n",
            "access.key": self.access.signer_key() + "\n",
            "vault.key": self.vault.to_text(),
        }
        for other in self.others:
            log_name, access_name = other.names()
            out[log_name] = other.log.signer_key() + "\n"
            out[access_name] = other.access.signer_key() + "\n"
        return out

    def verifier_keys(self) -> dict[str, str]:
        out = {"log.key": self.log.verifier_key, "access.key": self.access.verifier_key}
        for other in self.others:
            log_name, access_name = other.names()
            out[log_name] = other.log.verifier_key
            out[access_name] = other.access.verifier_key
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise BackupError(
            f"backup file: expected {what} as base64 text, found {type(text).__name__}"
        )
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise BackupError(
            f"backup file: {what} is not valid base64; the file was altered"
        ) from None


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def _aad(doc: dict[str, Any]) -> bytes:
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def render(keys: KeySet, passphrase: bytes | None, *, now: datetime | None = None) -> bytes:
    """The backup document for `keys`, sealed under `passphrase` if one is given."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "origin": keys.origin,
        "created_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verifier_keys": keys.verifier_keys(),
    }
    secret = json.dumps(keys.secrets(), sort_keys=True).encode("utf-8")
    if passphrase is None:
        doc["encryption"] = None
        doc["keys"] = keys.secrets()
    else:
        salt, nonce = os.urandom(16), os.urandom(12)
        doc["encryption"] = {
            "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt),
            "cipher": "AES-256-GCM", "nonce": _b64(nonce),
        }
        key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        doc["ciphertext"] = _b64(AESGCM(key).encrypt(nonce, secret, _aad(doc)))
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file with mode 0600; never overwrite (FileExistsError)."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the mode given to os.open is filtered by the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def read_document(path: Path) -> dict[str, Any]:
    """The backup's JSON document, checked for its format; BackupError otherwise."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        raise BackupError(
            f"{path}: no such file; give the path of a `temoin keys backup` file"
        ) from None
    except OSError as exc:
        raise BackupError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_FILE_SIZE:
        raise BackupError(
            f"{path}: expected a key backup of a few KiB, found more than {MAX_FILE_SIZE:,} bytes; "
            "is this the right file?"
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupError(
            f"{path}: expected a `temoin keys backup` file (JSON, format {FORMAT}), found "
            "something else"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise BackupError(f"{path}: expected format {FORMAT!r}, found {found!r}")
    if not isinstance(doc.get("origin"), str):
        raise BackupError(f"{path}: the backup names no log origin; the file was altered")
    return doc


def is_encrypted(doc: dict[str, Any]) -> bool:
    return doc.get("encryption") is not None


def _secrets(doc: dict[str, Any], passphrase: bytes | None, path: Path) -> dict[str, Any]:
    enc = doc.get("encryption")
    if enc is None:
        keys = doc.get("keys")
        if not isinstance(keys, dict):
            raise BackupError(f"{path}: the backup holds no keys; the file was altered")
        return keys
    if passphrase is None:
        raise BackupError(
            f"{path} is encrypted: give its passphrase with --passphrase-file FILE or in "
            "TEMOIN_BACKUP_PASSPHRASE"
        )
    if (not isinstance(enc, dict) or enc.get("kdf") != "scrypt"
            or enc.get("cipher") != "AES-256-GCM"):
        raise BackupError(f"{path}: expected scrypt and AES-256-GCM encryption, found {enc!r}")
    n, r, p = enc.get("n"), enc.get("r"), enc.get("p")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)) or not (
        2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P
    ):
        raise BackupError(
            f"{path}: scrypt parameters n={n!r}, r={r!r}, p={p!r} are out of range (n a power "
            f"of two up to {_MAX_N}, r up to {_MAX_R}, p up to {_MAX_P}); the file was altered"
        )
    salt = _unb64(enc.get("salt"), "the scrypt salt")
    nonce = _unb64(enc.get("nonce"), "the nonce")
    sealed = _unb64(doc.get("ciphertext"), "the ciphertext")
    if len(nonce) != 12:
        raise BackupError(f"{path}: expected a 12-byte nonce, found {len(nonce)} bytes")
    try:
        plain = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, sealed, _aad(doc))
    except InvalidTag:
        raise BackupError(
            f"{path}: wrong passphrase (or the file was altered): AES-GCM authentication "
            "failed; nothing was restored"
        ) from None
    keys = json.loads(plain)
    if not isinstance(keys, dict):
        raise BackupError(f"{path}: the decrypted backup holds no keys")
    return keys


def open_backup(path: Path, passphrase: bytes | None) -> KeySet:
    """The keys in a backup file, parsed and checked for consistency (not yet against any
    database: see ledger/custody.py)."""
    doc = read_document(path)
    origin = doc["origin"]
    keys = _secrets(doc, passphrase, path)
    missing = [name for name in FILES if not isinstance(keys.get(name), str)]
    if missing:
        raise BackupError(
            f"{path}: expected the keys {', '.join(FILES)}, missing {', '.join(missing)}"
        )
    try:
        log = LogKey.from_signer_key(keys["log.key"].rstrip("\n"))
        access = LogKey.from_signer_key(keys["access.key"].rstrip("\n"))
    except CheckpointError as exc:
        raise BackupError(f"{path}: a signing key in the backup is unusable: {exc}") from None
    try:
        vault = MasterKey.from_text(keys["vault.key"], f"{path}: vault.key")
    except VaultError as exc:
        raise BackupError(str(exc)) from None
    if log.name != origin or access.name != f"{origin}/access":
        raise BackupError(
            f"{path}: the keys are named {log.name!r} and {access.name!r}, expected {origin!r} "
            f"and {origin + '/access'!r}; the file was altered"
        )
    return KeySet(origin=origin, log=log, access=access, vault=vault,
                  others=_other_logs(keys, path))


def _other_logs(keys: dict[str, Any], path: Path) -> tuple[LogKeys, ...]:
    """The `logs/<id>/...` keys, both of each log, each pair named alike."""
    found: dict[int, dict[str, LogKey]] = {}
    for name, value in keys.items():
        match = _OTHER_LOG_KEY.fullmatch(name)
        if match is None:
            continue
        if not isinstance(value, str):
            raise BackupError(f"{path}: {name} is not a key; the file was altered")
        try:
            key = LogKey.from_signer_key(value.rstrip("\n"))
        except CheckpointError as exc:
            raise BackupError(f"{path}: {name} in the backup is unusable: {exc}") from None
        found.setdefault(int(match[1]), {})[match[2]] = key
    out = []
    for log_id, pair in sorted(found.items()):
        if log_id == 1 or set(pair) != {"log", "access"}:
            raise BackupError(f"{path}: expected both logs/{log_id}/log.key and "
                              f"logs/{log_id}/access.key (of a log other than 1); the file "
                              f"was altered")
        if pair["access"].name != f"{pair['log'].name}/access":
            raise BackupError(
                f"{path}: the keys of log {log_id} are named {pair['log'].name!r} and "
                f"{pair['access'].name!r}, expected the second to be the first + '/access'; "
                f"the file was altered")
        out.append(LogKeys(log_id, pair["log"], pair["access"]))
    return tuple(out)


def read_passphrase(passphrase_file: str | None, environ: dict[str, str]) -> bytes | None:
    """The passphrase from --passphrase-file (one trailing newline dropped) or from
    TEMOIN_BACKUP_PASSPHRASE; None if neither is given."""
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_bytes()
        except OSError as exc:
            raise BackupError(
                f"--passphrase-file {passphrase_file}: cannot read it ({exc.strerror})"
            ) from None
        if text.endswith(b"\n"):
            text = text[:-1]
            if text.endswith(b"\r"):
                text = text[:-1]
        source = f"--passphrase-file {passphrase_file}"
    elif "TEMOIN_BACKUP_PASSPHRASE" in environ:
        text = environ["TEMOIN_BACKUP_PASSPHRASE"].encode("utf-8")
        source = "TEMOIN_BACKUP_PASSPHRASE"
    else:
        return None
    if not text:
        raise BackupError(f"{source}: the passphrase is empty; give a real passphrase or none")
    return text
