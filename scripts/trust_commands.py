"""The trust half of the command line: the signer state in `temoin verify`, `--trusted`
checkpoints, and `temoin signer status|reset` (docs/TRUST.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.signer_state import SignerStateError, load_state, reset_state
from ledger.trusted import Trusted, TrustedInputError, compare, read_trusted

if TYPE_CHECKING:
    from ledger.access import AccessJournal
    from ledger.ledger import Ledger
    from ledger.signing import LogKey
    from ledger.store.protocols import Log

RESET_FLAG = "--i-understand-this-forks-the-log"


def read_all_trusted(files: list[str], ledger: Ledger, journal: AccessJournal) -> list[Trusted]:
    """Every --trusted file, verified with the case log's or the access journal's key."""
    verifiers = [ledger.key.verifier(), journal.key.verifier()]
    return [read_trusted(Path(f), verifiers) for f in files]


def _logs(ledger: Ledger, journal: AccessJournal) -> list[tuple[str, Log, LogKey, Path]]:
    return [("", ledger.store, ledger.key, ledger.state_path),
            ("access journal ", journal.store, journal.key, journal.state_path)]


def trust_anomalies(ledger: Ledger, journal: AccessJournal, trusted: list[Trusted]) -> list[str]:
    """The stored logs compared with what was signed outside the database: the signer state
    files, then each --trusted checkpoint. One line per anomaly."""
    lines: list[str] = []
    for prefix, store, key, path in _logs(ledger, journal):
        try:
            signed = load_state(path, key)
        except SignerStateError as exc:
            lines.append(f"{prefix}{exc}")
            continue
        if signed is not None:
            found = compare(store, signed, f"signer state {path}")
            if found:
                lines.append(f"{prefix}{found}")
    for item in trusted:
        cp = item.checkpoint
        store = ledger.store if cp.origin == ledger.origin else journal.store
        prefix = "" if cp.origin == ledger.origin else "access journal "
        found = compare(store, cp, f"trusted checkpoint {item.label}")
        if found:
            lines.append(f"{prefix}{found}")
    return lines


def _log_or_part(text: str) -> int | str:
    """`--log ID`; `case`, `access` and `both` are what `--log` meant before several logs
    (now `--part`), still taken so that a written-down recovery procedure keeps working."""
    if text in PARTS:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a log id (`temoin logs list`), got {text!r}") from None


PARTS = ("case", "access", "both")


def _cmd_signer(args: argparse.Namespace) -> int:
    from scripts.read_commands import CliError, open_log

    if isinstance(args.log, str):  # the former `--log case|access|both`
        if getattr(args, "part", None):
            raise CliError("--log case|access|both is the former spelling of --part: give one")
        args.part, args.log = args.log, None
    if args.signer_command == "reset" and not args.confirm:
        print(f"temoin signer reset: refusing without {RESET_FLAG}: accepting the database's "
              "current tree FORKS the log for everyone holding an earlier checkpoint. Read "
              "docs/TRUST.md ('Recovering from a fork') first; restoring the database is "
              "usually the right fix", file=sys.stderr)
        return 2
    with open_log(args.log, None, whole_log=False) as (every, ledger):
        journal = every.journal(ledger.store.log_id)
        return _signer(args, _logs(ledger, journal))


def _signer(args: argparse.Namespace, logs: list[tuple[str, Log, LogKey, Path]]) -> int:
    if args.signer_command == "reset":
        chosen = {"case": logs[:1], "access": logs[1:], "both": logs}[args.part or "both"]
        for prefix, store, key, path in chosen:
            archive, cp = reset_state(store, key, key.name, path)
            kept = f"old state archived as {archive}" if archive else "there was no state"
            print(f"{prefix or 'case log '}{key.name}: {kept}; the signer now starts from size "
                  f"{cp.size} root {cp.root.hex()}. Restart the server.")
        return 0
    status = 0
    for prefix, store, key, path in logs:
        name = prefix or "case log "
        try:
            signed = load_state(path, key)
        except SignerStateError as exc:
            print(f"{name}FORK: {exc}")
            status = 1
            continue
        size = store.tree_size()
        if signed is None:
            print(f"{name}{path}: no state yet (created at the next signature); "
                  f"database size {size}")
            continue
        found = compare(store, signed, f"signer state {path}", size)
        if found:
            print(f"{name}FORK: {found}")
            status = 1
        else:
            print(f"{name}{path}: signed size {signed.size} root {signed.root.hex()}; the "
                  f"database (size {size}) extends it")
    return status


def add_signer_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("signer", help="the signer state kept beside the keys (docs/TRUST.md)")
    signer = p.add_subparsers(dest="signer_command", required=True)
    s = signer.add_parser("status", help="compare the database with the last signed tree heads")
    s.add_argument("--log", type=int, metavar="ID",
                   help="the log (`temoin logs list`; default 1)")
    s.set_defaults(func=_cmd_signer)
    s = signer.add_parser(
        "reset", help="accept the database's current tree as the log: FORKS it (archives the "
                      "old state)")
    s.add_argument(RESET_FLAG, dest="confirm", action="store_true",
                   help="required: you have read docs/TRUST.md and accept the fork")
    s.add_argument("--log", type=_log_or_part, metavar="ID",
                   help="the log (`temoin logs list`; default 1)")
    s.add_argument("--part", choices=PARTS,
                   help="its case log's signer state, its access journal's, or both (default)")
    s.set_defaults(func=_cmd_signer)


__all__ = ["TrustedInputError", "add_signer_commands", "read_all_trusted", "trust_anomalies"]
