"""`temoin keys backup` and `temoin keys restore`: the key files of a deployment, in one file:
log 1's, the vault key, and the keys of every other log of the database (`logs/<id>/`).

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
    from ledger.logs import LogSet

    out = Path(args.out)
    if out.exists() or out.is_symlink():
        raise CliError(f"--out {out}: a file is already there; refusing to overwrite it "
                       "(choose a new name or move it away)")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: the folder {out.parent} does not exist")
    passphrase = _passphrase(args)
    settings = Settings.from_env()
    # Opening each log checks its keys against the database (KeyCustodyError otherwise), so a
    # backup only ever holds the keys this database needs; on a fresh one it creates them.
    logs = LogSet(settings)
    try:
        main = logs.main
        others = tuple(LogKeys(log_id, logs.ledger(log_id).key, logs.journal(log_id).key)
                       for log_id in logs.log_ids()[1:])
        keys = KeySet(settings.origin, main.key, logs.journal(1).key, main.master, others)
    finally:
        logs.close()
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
    for other in keys.others:
        print(f"  log {other.log_id}: logs/{other.log_id}/log.key {other.log.verifier_key}, "
              f"access.key {other.access.verifier_key}", file=sys.stderr)
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
    targets: list[tuple[str, Path, Any]] = [
        ("log.key", settings.key_path, keys.log),
        ("access.key", settings.access_key_path, keys.access),
        ("vault.key", settings.vault_key_path, keys.vault),
    ]
    # Another log's keys go to its own folder, named by the log the database registered.
    other_settings = {o.log_id: settings.for_log(o.log_id, o.origin) for o in keys.others}
    for other in keys.others:
        log_name, access_name = other.names()
        targets += [(log_name, other_settings[other.log_id].key_path, other.log),
                    (access_name, other_settings[other.log_id].access_key_path, other.access)]
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
        registered = {row.log_id: row.origin for row in case_app.store.registered_logs()}
    finally:
        access_app.close()
        case_app.close()
    for other in keys.others:
        problems += _other_log_problems(other, registered.get(other.log_id),
                                        other_settings[other.log_id], advice)
    if problems:
        raise CliError("nothing restored:\n  " + "\n  ".join(problems))
    private_dir(settings.data_dir)
    for other in keys.others:
        private_dir(settings.data_dir / "logs")
        private_dir(other_settings[other.log_id].log_dir)
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
    for log_id in sorted(set(registered) - {o.log_id for o in keys.others}):
        print(f"log {log_id} ({registered[log_id]}): not in this backup (made before the log "
              f"was created?): its keys in {settings.data_dir / 'logs' / str(log_id)} are "
              f"left as they are", file=sys.stderr)
    return 0


def _other_log_problems(other: Any, registered: str | None, settings: Settings,
                        advice: str) -> list[str]:
    """Why the backup's keys of another log cannot be restored here, if they cannot: the
    database must have that log, under that origin, and its checkpoints must be theirs."""
    from ledger.access import AccessLog
    from ledger.application import CaseLog
    from ledger.custody import signing_key_problem

    if registered is None:
        return [f"the backup holds the keys of log {other.log_id} ({other.origin}), but this "
                f"database has no log {other.log_id}: {advice}"]
    if registered != other.origin:
        return [f"the backup holds the keys of log {other.log_id} as {other.origin!r}, but this "
                f"database's log {other.log_id} is {registered!r}: {advice}"]
    case_app = CaseLog(env=settings.persistence_env())
    try:
        access_app = AccessLog(env=settings.persistence_env())
        try:
            found = [
                signing_key_problem(case_app.store, settings.key_path, other.origin, other.log,
                                    f"log {other.log_id}",
                                    subject=f"the backup's logs/{other.log_id}/log.key",
                                    advice=advice),
                signing_key_problem(access_app.recorder, settings.access_key_path,
                                    f"{other.origin}/access", other.access,
                                    f"the access journal of log {other.log_id}",
                                    subject=f"the backup's logs/{other.log_id}/access.key",
                                    advice=advice),
            ]
        finally:
            access_app.close()
    finally:
        case_app.close()
    return [problem for problem in found if problem]


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
