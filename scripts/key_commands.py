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
    from ledger.key_backup import LogKeys, render, write_new_file
    from ledger.ledger import Ledger
    from ledger.logs import LogSet

    out = Path(args.out)
    if out.exists() or out.is_symlink():
        raise CliError(f"--out {out}: a file is already there; refusing to overwrite it "
                       "(choose a new name or move it away)")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: the folder {out.parent} does not exist")
    passphrase = _passphrase(args)
    settings = Settings.from_env()
    # Opening a log checks every key against the database (KeyCustodyError otherwise), so a
    # backup only ever holds the keys this database needs; on a fresh one it creates them.
    # Every log of the database is in it (`temoin logs create`): log 1's keys alone would not
    # bring the others back.
    ledger = Ledger(settings)
    try:
        logs = LogSet(settings, main=ledger)
        try:
            others = tuple(
                LogKeys(log_id, logs.ledger(log_id).origin, logs.ledger(log_id).key,
                        logs.journal(log_id).key)
                for log_id in logs.log_ids()[1:]
            )
            keys = KeySet(settings.origin, ledger.key, logs.journal(1).key, ledger.master,
                          others)
        finally:
            logs.close()
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
    for other in keys.logs:
        print(f"  log {other.log_id} ({other.origin}): {other.folder}/log.key "
              f"{other.log.verifier_key}, {other.folder}/access.key", file=sys.stderr)
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
    # (settings of the log, what the key is, name, path, key) for every key of the backup.
    targets: list[tuple[Settings, str, str, Path, Any]] = [
        (settings, "the case log", "log.key", settings.key_path, keys.log),
        (settings, "the access journal", "access.key", settings.access_key_path, keys.access),
        (settings, "the vault", "vault.key", settings.vault_key_path, keys.vault),
    ]
    problems: list[str] = []
    registered = _registered_logs(settings)
    for other in keys.logs:
        found = registered.get(other.log_id)
        if found != other.origin:
            problems.append(
                f"the backup holds log {other.log_id} {other.origin!r}, but this database's "
                f"log {other.log_id} is " + (f"{found!r}" if found else "not registered")
                + " (is this the backup of this deployment? check TEMOIN_DATABASE_URL)")
            continue
        log_settings = settings.for_log(other.log_id, other.origin)
        targets += [
            (log_settings, f"log {other.log_id}'s case log", f"{other.folder}/log.key",
             log_settings.key_path, other.log),
            (log_settings, f"log {other.log_id}'s access journal",
             f"{other.folder}/access.key", log_settings.access_key_path, other.access),
        ]
    missing = sorted(set(registered) - {o.log_id for o in keys.logs})
    problems += _key_problems(targets, in_place := set())
    if problems:
        raise CliError("nothing restored:\n  " + "\n  ".join(problems))
    private_dir(settings.data_dir)
    for _, _, name, path, candidate in targets:
        if name in in_place:
            print(f"{path}: already in place (the same key)")
            continue
        private_dir(path.parent)
        if name == "vault.key":
            written = candidate.save(path)
        else:
            written = _save_signing_key(candidate, path)
        if not written:
            raise CliError(f"{path} appeared while restoring; run the restore again to compare")
        print(f"{path}: restored (mode 0600)")
    for log_id in missing:
        print(f"log {log_id} ({registered[log_id]}): its keys are not in this backup (it was "
              f"made before `temoin logs create`); restore them from a later backup",
              file=sys.stderr)
    return 0


def _registered_logs(settings: Settings) -> dict[int, str]:
    """The logs after log 1 this database registers: id -> origin."""
    case_app, access_app = _open_stores(settings)
    try:
        return {row.log_id: row.origin for row in case_app.store.registered_logs()}
    finally:
        access_app.close()
        case_app.close()


def _key_problems(targets: list[tuple[Settings, str, str, Path, Any]],
                  in_place: set[str]) -> list[str]:
    """Why the keys of `targets` cannot be restored (none: they can); fills `in_place` with
    the keys already there. Decides everything before anything is written, so a refusal
    leaves the data folder untouched."""
    from ledger.custody import (
        KeyCustodyError,
        master_key_problem,
        read_master_key,
        read_signing_key,
        signing_key_problem,
    )

    advice = ("is this the backup of this deployment? check TEMOIN_DATABASE_URL and "
              "TEMOIN_DATA_DIR")
    problems: list[str] = []
    for _, _, name, path, candidate in targets:
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
    for log_settings in {id(t[0]): t[0] for t in targets}.values():
        mine = [t for t in targets if t[0] is log_settings]
        case_app, access_app = _open_stores(log_settings)
        try:
            for _, what, name, path, candidate in mine:
                if name.endswith("vault.key"):
                    problem = master_key_problem(
                        case_app.store, path, candidate, subject="the backup's vault.key",
                        advice=advice)
                else:
                    journal = name.endswith("access.key")
                    problem = signing_key_problem(
                        access_app.recorder if journal else case_app.store, path,
                        log_settings.origin + ("/access" if journal else ""), candidate,
                        what, subject=f"the backup's {name}", advice=advice)
                if problem:
                    problems.append(problem)
        finally:
            access_app.close()
            case_app.close()
    return problems


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
