"""Key custody: never mint a new key over a database that shows an old one existed.

Three secrets live in files beside (never inside) the database: the case log's signing key
(`log.key`), the access journal's (`access.key`) and the vault master key (`vault.key`). When
one is missing, creating a fresh one is only right for a fresh database. Once the database
holds checkpoints signed by a key, or case keys wrapped by a master key, a new key would
silently break the log: old checkpoints no longer verify under the served key, sealed
openings can never be read again. So opening a log checks each key file against what the
database says, and refuses with `KeyCustodyError` (whose message says what to restore)
instead of creating a replacement.

What counts as evidence that a key existed:
- signing keys: the log's checkpoints. The key file must be the key (same name and key id)
  that signed the latest or the first checkpoint. A replaced key file signed neither; a
  checkpoint row altered or re-signed by someone with write access to the database is
  tampering, which `temoin verify` must still be able to open the log to report, so the
  latest checkpoint's Ed25519 signature failing is a warning here, not a refusal;
- the vault master key: wrapped case keys in `vault_keys`. One of a few sampled rows must
  unwrap (AES-GCM authenticates: another key fails).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.errors import ConfigurationError
from ledger.signing import CheckpointError, KeyFileError, LogKey, note_signers, verify_checkpoint
from ledger.vault import MasterKey, VaultError

if TYPE_CHECKING:  # the store module pulls in eventsourcing: not needed to catch the error
    from ledger.store.protocols import LogReader, Store, VaultReader

logger = logging.getLogger("temoin.custody")


class KeyCustodyError(ConfigurationError):
    """A key file is missing, unreadable or another key while the database shows which key it
    must be. The message names the file, what the database holds and what to restore."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _restore_hint(path: Path) -> str:
    return (
        f"restore {path.name} from your key backup (`temoin keys restore FILE`) or point "
        f"TEMOIN_DATA_DIR at the folder that holds it"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------- reading files


def read_signing_key(path: Path) -> LogKey | None:
    """The key in `path`, or None if there is no file; KeyCustodyError if it is not a key."""
    try:
        return LogKey.load(path)
    except FileNotFoundError:
        return None
    except KeyFileError as exc:
        raise KeyCustodyError([f"{exc}; {_restore_hint(path)}"]) from None
    except OSError as exc:
        raise KeyCustodyError([f"{path}: cannot read the key file ({exc.strerror})"]) from None


def read_master_key(path: Path) -> MasterKey | None:
    """The vault master key in `path`, or None if there is no file."""
    try:
        return MasterKey.load(path)
    except FileNotFoundError:
        return None
    except VaultError as exc:
        raise KeyCustodyError([f"{exc}; {_restore_hint(path)}"]) from None
    except OSError as exc:
        raise KeyCustodyError([f"{path}: cannot read the key file ({exc.strerror})"]) from None


# --------------------------------------------------------------------------- checks


def signing_key_problem(store: LogReader, path: Path, origin: str, key: LogKey | None,
                        what: str, *, subject: str | None = None,
                        advice: str | None = None) -> str | None:
    """Why `key` (None: `path` is missing) cannot sign for the log in `store`, or None.

    `subject` and `advice` replace "<path>" and the restore hint in the message (for keys
    that come from a backup rather than from `path`).
    """
    subject = subject or str(path)
    advice = advice or _restore_hint(path)
    if key is not None and key.name != origin:
        return (
            f"{subject} is the key of log {key.name!r}, expected {origin!r} ({what}); set "
            f"TEMOIN_LOG_ORIGIN to this log's origin or use this log's key file"
        )
    latest = store.latest_checkpoint()
    if latest is None:
        return None  # nothing was ever signed: any key (or a new one) is right
    signers = _signers(latest.note)
    by = ", ".join(signers) if signers else "an unreadable signature"
    if key is None:
        count = store.checkpoint_count()
        return (
            f"{path} is missing but the database holds {_plural(count, 'checkpoint')} of "
            f"{what} signed by {by} (latest at tree size {latest.size:,}): {_restore_hint(path)}"
            f". Starting with a new key would make every existing checkpoint unverifiable "
            f"under the key this server publishes."
        )
    mine = f"{key.name}+{key.key_id.hex()}"
    # The first checkpoint too: a database writer who re-signs the latest one with a key of
    # their own must not stop `temoin verify` from reporting it. A replaced key file signed
    # neither.
    first = store.checkpoints(limit=1)
    sampled = [signers, *(_signers(cp.note) for cp in first)]
    if any(mine in names for names in sampled) or not any(sampled):
        try:
            verify_checkpoint(latest.note, key.verifier(), origin=origin)
        except CheckpointError as exc:
            logger.warning(
                "the latest checkpoint of %s (size %s) does not verify with %s: %s; run "
                "`temoin verify`", what, latest.size, path, exc,
            )
        return None
    count = store.checkpoint_count()
    return (
        f"{subject} is another key: it is {mine}, but the database's "
        f"{_plural(count, 'checkpoint')} of {what} {'is' if count == 1 else 'are'} signed "
        f"by {by}: "
        f"{advice}. Signing with this key would fork the log's identity."
    )


def _signers(note: bytes) -> list[str]:
    try:
        return note_signers(note)
    except CheckpointError:
        return []  # an altered row: `temoin verify` reports it


def master_key_problem(store: VaultReader, path: Path, master: MasterKey | None, *,
                       subject: str | None = None, advice: str | None = None) -> str | None:
    """Why `master` (None: `path` is missing) cannot open the vault in `store`, or None."""
    subject = subject or str(path)
    advice = advice or _restore_hint(path)
    sample = store.wrapped_key_sample()
    if not sample:
        return None  # no case key was ever wrapped (or all were erased)
    if master is not None:
        for case_id, wrapped in sample:
            try:
                master.unwrap(case_id, wrapped)
            except VaultError:
                continue
            return None
    keys, openings = store.vault_counts()
    holds = (
        f"the database holds {_plural(keys, 'case key')} wrapped by the vault master key, "
        f"sealing {_plural(openings, 'personal-data opening')}"
    )
    if master is None:
        return (
            f"{path} is missing but {holds}: {_restore_hint(path)}. A new master key could "
            f"never open them."
        )
    return (
        f"{subject} is another key: it cannot unwrap the case keys in the database (AES-GCM "
        f"authentication fails; {holds}): {advice}."
    )


# --------------------------------------------------------------------------- opening


@dataclass(frozen=True, slots=True)
class CaseLogKeys:
    log: LogKey
    master: MasterKey


def open_case_log_keys(store: Store, key_path: Path, vault_path: Path,
                       origin: str) -> CaseLogKeys:
    """The case log's signing key and vault master key, checked against `store`; each is
    created only if missing and the database shows none ever existed."""
    problems: list[str] = []
    try:
        log = read_signing_key(key_path)
    except KeyCustodyError as exc:
        problems += exc.problems
        log, log_ok = None, False
    else:
        log_ok = True
    try:
        master = read_master_key(vault_path)
    except KeyCustodyError as exc:
        problems += exc.problems
        master, master_ok = None, False
    else:
        master_ok = True
    if log_ok and (p := signing_key_problem(store, key_path, origin, log, "the case log")):
        problems.append(p)
    if master_ok and (p := master_key_problem(store, vault_path, master)):
        problems.append(p)
    if problems:
        raise KeyCustodyError(problems)
    # Only now, with nothing refused, are missing keys created (race-safe: several processes
    # starting at once all end up with the one file that was linked first).
    return CaseLogKeys(
        log=log or _create_signing_key(key_path, origin),
        master=master or MasterKey.load_or_create(vault_path),
    )


def open_signing_key(store: LogReader, path: Path, origin: str, what: str) -> LogKey:
    """A log's signing key checked against its checkpoints in `store` (created if allowed)."""
    key = read_signing_key(path)
    problem = signing_key_problem(store, path, origin, key, what)
    if problem:
        raise KeyCustodyError([problem])
    return key or _create_signing_key(path, origin)


def _create_signing_key(path: Path, origin: str) -> LogKey:
    try:
        return LogKey.load_or_create(path, origin)
    except CheckpointError as exc:  # e.g. another process wrote a key with another name
        raise KeyCustodyError([f"{exc}; {_restore_hint(path)}"]) from None


def custody_message(exc: KeyCustodyError) -> str:
    """The refusal as printed by `temoin` and logged by the server: one line per problem."""
    head = "refusing to open the log: a key file does not match what the database holds"
    return head + "".join(f"\n  - {p}" for p in exc.problems)
