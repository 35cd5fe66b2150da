"""`temoin migrate [--dry-run]`: bring the database to this release's schema version.

Stop every Témoin process on the database first. Resumable: killed at any point, run it again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.config import Settings
from scripts.read_commands import CliError


def _cmd_migrate(args: argparse.Namespace) -> int:
    from ledger.store.migrations.database import Database
    from ledger.store.migrations.runner import migrate

    url = Settings.from_env().database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        # Opening it would create an empty file where the operator expected their database.
        raise CliError(f"no database at {url[len('sqlite:///'):]} (TEMOIN_DATABASE_URL)")
    db = Database.open(url)
    try:
        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        migrate(db, dry_run=args.dry_run, say=print, progress=progress)
    finally:
        db.close()
    return 0


def add_migrate_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "migrate",
        help="upgrade the database to this release's schema version (stop the server first; "
             "resumable)",
    )
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be done and change nothing")
    p.set_defaults(func=_cmd_migrate)
