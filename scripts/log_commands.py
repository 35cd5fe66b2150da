"""`temoin logs create|list`: the logs of the database and the tenants mapped to them
(issue 14 "Many logs"; docs/STORAGE.md "Many logs")."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ledger.config import Settings
from scripts.read_commands import CliError

if TYPE_CHECKING:  # the ledger pulls in eventsourcing: imported by the commands that run
    from ledger.logs import LogSet


def chosen_logs(logs: LogSet, log_id: int | None) -> list[int]:
    """`--log ID` checked against the database, or every log."""
    ids = logs.log_ids()
    if log_id is None:
        return ids
    if log_id not in ids:
        raise CliError(f"no log {log_id} in this database; its logs: "
                       f"{', '.join(map(str, ids))} (`temoin logs list`)")
    return [log_id]


def _cmd_logs_create(args: argparse.Namespace) -> int:
    from ledger.logs import LogSet, LogSetError
    from projections.runner import ProjectionRunner

    logs = LogSet(Settings.from_env())
    try:
        # The case index says which tenants already have cases on log 1 (they cannot move).
        ProjectionRunner(logs.main.store).catch_up()
        try:
            ledger = logs.create(args.origin, args.tenant)
        except LogSetError as exc:
            raise CliError(str(exc)) from None
        log_id = ledger.store.log_id
        print(f"log {log_id}: {ledger.origin}")
        print(f"tenants: {', '.join(args.tenant) or '(none yet)'}")
        print(f"signing keys: {ledger.settings.log_dir} (in `temoin keys backup` from now "
              f"on: make a new key backup)")
        print(f"verifier key: {ledger.key.verifier_key}")
    finally:
        logs.close()
    return 0


def _cmd_logs_list(args: argparse.Namespace) -> int:
    from ledger.logs import LogSet

    logs = LogSet(Settings.from_env())
    try:
        infos = logs.describe()
    finally:
        logs.close()
    if args.json:
        print(json.dumps([{
            "id": i.log_id, "origin": i.origin, "created_at": i.created_at, "size": i.size,
            "tenants": i.tenants, "default": i.log_id == 1, "verifier_key": i.verifier_key,
        } for i in infos], indent=2))
        return 0
    for i in infos:
        tenants = ", ".join(i.tenants)
        if i.log_id == 1:
            tenants = "every other tenant" + (f" ({tenants})" if tenants else "")
        print(f"{i.log_id}\t{i.origin}\tsize {i.size:,}\ttenants: {tenants or '(none)'}\t"
              f"{i.verifier_key}")
    return 0


def add_log_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", help="the logs of this database and their tenants")
    logs_sub = p.add_subparsers(dest="logs_command", required=True)
    p = logs_sub.add_parser(
        "create", help="add a log with its own origin and signing keys; map tenants to it")
    p.add_argument("origin", help="the new log's origin (checkpoint first line, key name)")
    p.add_argument("--tenant", action="append", default=[], metavar="TENANT",
                   help="a tenant whose entries go to this log (repeat); only a tenant with no "
                        "API key and no case yet")
    p.set_defaults(func=_cmd_logs_create)
    p = logs_sub.add_parser("list", help="every log: id, origin, size, tenants, verifier key")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_cmd_logs_list)
