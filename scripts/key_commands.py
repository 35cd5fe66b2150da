"""`temoin keys backup` and `temoin keys restore`: the key files of a deployment, in one file.

Both refuse rather than guess: backup never overwrites a file, restore never overwrites a
different key and never writes a key the database shows is not this log's (ledger/custody.py).
Every refusal is a CliError (one line, exit 2) and leaves nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ledger.config import Settings
from ledger.key_backup import BackupError, KeySet, is_encrypted, read_document
from scripts.read_commands import CliError


def _passphrase(args: argparse.Namespace) -> bytes | None:
    from ledger.key_backup import read_passphrase

    try:
        return read_passphrase(args.passphrase_file, dict(os.environ))
    except BackupError as exc:
        raise CliError(str(exc)) from None


def cmd_backup(args: argparse.Namespace) -> int:
    from ledger.access import AccessJournal
    from ledger.key_backup import render, write_new_file
    from ledger.ledger import Ledger

    out = Path(args.out)
    if out.exists() or out.is_symlink():
        raise CliError(f"--out {out}: a file is already there; refusing to overwrite it "
                       "(choose a new name or move it away)")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: the folder {out.parent} does not exist")
    passphrase = _passphrase(args)
    settings = Settings.from_env()
    # Opening the log checks every key against the database (KeyCustodyError otherwise), so a
    # backup only ever holds the keys this database needs; on a fresh one it creates them.
    ledger = Ledger(settings)
    try:
        journal = AccessJournal(settings)
        try:
            keys = KeySet(settings.origin, ledger.key, journal.key, ledger.master)
        finally:
            journal.close()
    finally:
        ledger.close()
    data = render(keys, passphrase)
    try:
        write_new_file(out, data)
    except FileExistsError:
        raise CliError(
            f"--out {out}: a file appeared there meanwhile; refusing to overwrite it"
        ) from None
    except OSError as exc:
        raise CliError(f"--out {out}: cannot write it ({exc.strerror})") from None
    print(f"wrote {out} (mode 0600): log.key {keys.log.verifier_key}", file=sys.stderr)
    print(f"  access.key {keys.access.verifier_key}, vault.key", file=sys.stderr)
    if passphrase is None:
        print("  NOT encrypted: anyone holding this file can sign as this log and read its "
              "personal data; keep it offline, apart from database backups, or use "
              "--passphrase-file", file=sys.stderr)
    else:
        print("  encrypted with the passphrase (scrypt + AES-256-GCM); keep the passphrase "
              "apart from the file", file=sys.stderr)
    return 0


def _open_stores(settings: Settings) -> tuple[Any, Any]:
    """The case log's and the access journal's stores, opened without touching any key."""
    from ledger.access import AccessLog
    from ledger.application import CaseLog

    case_app = CaseLog(env=settings.persistence_env())
    try:
        access_app = AccessLog(env=settings.persistence_env())
    except BaseException:
        case_app.close()
        raise
    return case_app, access_app


def cmd_restore(args: argparse.Namespace) -> int:
    from ledger.custody import (
        KeyCustodyError,
        master_key_problem,
        read_master_key,
        read_signing_key,
        signing_key_problem,
    )
    from ledger.filemodes import private_dir
    from ledger.key_backup import open_backup

    source = Path(args.file)
    try:
        doc = read_document(source)
        passphrase = _passphrase(args) if is_encrypted(doc) else None
        keys = open_backup(source, passphrase)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    settings = Settings.from_env()
    if keys.origin != settings.origin:
        raise CliError(
            f"{source} holds the keys of log {keys.origin!r}, but TEMOIN_LOG_ORIGIN is "
            f"{settings.origin!r}: set TEMOIN_LOG_ORIGIN={keys.origin} if this is that log"
        )
    targets = [
        ("log.key", settings.key_path, keys.log),
        ("access.key", settings.access_key_path, keys.access),
        ("vault.key", settings.vault_key_path, keys.vault),
    ]
    advice = ("is this the backup of this deployment? check TEMOIN_DATABASE_URL and "
              "TEMOIN_DATA_DIR")
    problems: list[str] = []
    in_place: set[str] = set()
    # Decide everything before writing anything: a refusal leaves the data folder untouched.
    for name, path, candidate in targets:
        try:
            present: Any = (read_master_key(path) if name == "vault.key"
                            else read_signing_key(path))
        except KeyCustodyError:
            present = "unreadable"
        if present is None:
            continue
        same = (present != "unreadable" and (
            present.key == candidate.key if name == "vault.key"
            else present.signer_key() == candidate.signer_key()))
        if same:
            in_place.add(name)
        else:
            problems.append(
                f"{path} already exists and holds a different key than the backup's {name}: "
                f"refusing to overwrite it (move it away first if the backup is the right one)"
            )
    case_app, access_app = _open_stores(settings)
    try:
        for problem in (
            signing_key_problem(case_app.store, settings.key_path, settings.origin, keys.log,
                                "the case log", subject="the backup's log.key",
                                advice=advice),
            signing_key_problem(access_app.recorder, settings.access_key_path,
                                f"{settings.origin}/access", keys.access,
                                "the access journal", subject="the backup's access.key",
                                advice=advice),
            master_key_problem(case_app.store, settings.vault_key_path, keys.vault,
                               subject="the backup's vault.key", advice=advice),
        ):
            if problem:
                problems.append(problem)
    finally:
        access_app.close()
        case_app.close()
    if problems:
        raise CliError("nothing restored:\n  " + "\n  ".join(problems))
    private_dir(settings.data_dir)
    for name, path, candidate in targets:
        if name in in_place:
            print(f"{path}: already in place (the same key)")
            continue
        if name == "vault.key":
            written = candidate.save(path)
        else:
            written = _save_signing_key(candidate, path)
        if not written:
            raise CliError(f"{path} appeared while restoring; run the restore again to compare")
        print(f"{path}: restored (mode 0600)")
    return 0


def _save_signing_key(key: Any, path: Path) -> bool:
    from ledger.signing import KeyFileExistsError

    try:
        key.save(path)
    except KeyFileExistsError:
        return False
    return True


def add_key_backup_commands(keys_sub: Any) -> None:
    """`temoin keys backup` and `temoin keys restore` under `temoin keys`."""
    passphrase_help = ("read the passphrase from FILE (one line); TEMOIN_BACKUP_PASSPHRASE "
                       "works too")
    p = keys_sub.add_parser(
        "backup",
        help="write log.key, access.key and vault.key into one new file (mode 0600)",
    )
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the backup file to create (never overwritten)")
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="encrypt the backup (scrypt + AES-256-GCM); " + passphrase_help)
    p.set_defaults(func=cmd_backup)

    p = keys_sub.add_parser(
        "restore",
        help="put the keys of a backup back into TEMOIN_DATA_DIR, after checking them "
             "against the database",
    )
    p.add_argument("file", metavar="FILE", help="a file written by `temoin keys backup`")
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="the passphrase of an encrypted backup; " + passphrase_help)
    p.set_defaults(func=cmd_restore)
