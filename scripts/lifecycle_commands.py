"""`temoin erasure ...`: the personal-data lifecycle on the command line (issue 12)."""

from __future__ import annotations

import argparse
import sys

from ledger.config import Settings


def _cmd_erasure_finish(args: argparse.Namespace) -> int:
    """Destroy what erasures recorded by a release that did not yet shred left in the vault."""
    from ledger.audit_erasure import check_erasures
    from ledger.ledger import Ledger

    ledger = Ledger(Settings.from_env())
    try:
        store = ledger.store
        notes, _ = check_erasures(store, store.tree_size())
        done = 0
        for note in notes:
            deleted = store.finish_erasure(note.case_id, note.case_seq, note.fields)
            if deleted:
                print(f"case {note.case}: {deleted} openings destroyed (entry {note.index})")
            done += deleted
    finally:
        ledger.close()
    print(f"{len(notes)} erasures checked, {done} openings destroyed")
    return 0


def _cmd_idempotency_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from ledger.ledger import Ledger

    if args.older_than_hours < 24:
        print("temoin idempotency purge: --older-than-hours must be at least 24 (API.md keeps "
              f"Idempotency-Key records 24 hours), got {args.older_than_hours}",
              file=sys.stderr)
        return 2
    ledger = Ledger(Settings.from_env())
    try:
        count = ledger.purge_idempotency(timedelta(hours=args.older_than_hours))
    finally:
        ledger.close()
    print(f"{count} Idempotency-Key records older than {args.older_than_hours:g} hours purged")
    return 0


def add_lifecycle_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("erasure", help="personal-data erasure (crypto-shredding)")
    erasure_sub = p.add_subparsers(dest="erasure_command", required=True)
    p = erasure_sub.add_parser(
        "finish",
        help="destroy vault rows that erasures recorded by an older release left behind",
    )
    p.set_defaults(func=_cmd_erasure_finish)

    p = sub.add_parser("idempotency", help="Idempotency-Key records")
    idem_sub = p.add_subparsers(dest="idempotency_command", required=True)
    p = idem_sub.add_parser("purge", help="forget records older than N hours (the server also "
                                          "does it every hour)")
    p.add_argument("--older-than-hours", type=float, default=48.0,
                   help="at least 24 (default 48)")
    p.set_defaults(func=_cmd_idempotency_purge)
