"""`temoin cases`, `temoin keys list`, `temoin keys revoke`: finding cases and keys on the server.

The operator's view: the database directly, every tenant of one log (`--log ID`, default log
1) unless `--tenant` is given (its own log). Bad input is a `CliError` (exit 2) that says what
was wrong and what to pass instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

from ledger.case_search import MAX_LIMIT, CaseQueryError, list_cases, parse_filters
from ledger.config import Settings
from ledger.events.fields import CASE_ID_PATTERN
from scripts.read_commands import CliError, add_log_option, open_log

MAX_CLI_CASES = 1_000_000
# Recorded as `revoked_by` when a revocation comes from the command line, not from a key.
CLI_REVOKER = "cli"


def _open() -> Any:
    from ledger.ledger import Ledger

    return Ledger(Settings.from_env())


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CLI_CASES:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_CLI_CASES:,}, got {text!r}")
    return int(text)


def _check_tenant(command: str, tenant: str | None) -> None:
    if tenant is not None and re.fullmatch(CASE_ID_PATTERN, tenant) is None:
        raise CliError(f"{command}: --tenant must be 1 to 128 ASCII letters, digits and . _ : -, "
                       f"starting with a letter or digit, got {tenant[:60]!r}")


def cmd_cases(args: argparse.Namespace) -> int:
    from projections.runner import ProjectionRunner

    _check_tenant("cases", args.tenant)
    try:
        filters = parse_filters(args.status, args.opened_after, args.opened_before, args.q)
    except CaseQueryError as exc:
        raise CliError(f"cases: --{exc.field.replace('_', '-')}: {exc}") from None
    rows: list[dict[str, Any]] = []
    more = False
    with open_log(args.log, args.tenant, whole_log=False) as (_, ledger):
        ProjectionRunner(ledger.store).catch_up()
        tenants = [args.tenant] if args.tenant else ledger.store.case_tenants()
        for tenant in tenants:
            cursor = None
            while len(rows) <= args.limit:
                page = list_cases(ledger.store, tenant, filters, cursor=cursor,
                                  limit=min(MAX_LIMIT, args.limit + 1 - len(rows)))
                rows.extend({"tenant": tenant, **item} for item in page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        more = len(rows) > args.limit
        rows = rows[:args.limit]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        for r in rows:
            closed = f", closed {r['closed_at']}" if r["closed_at"] else ""
            print(f"{r['tenant']:<20} {r['case']:<32} {r['status']:<7} {r['entries']:>6} entries"
                  f"  opened {r['opened_at']}{closed}")
    if more:
        print(f"temoin cases: more cases match than --limit {args.limit} shows; raise --limit "
              "or narrow the filters", file=sys.stderr)
    elif not rows and not args.json:
        print("temoin cases: no case matches", file=sys.stderr)
    return 0


def _key_out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "role": row.role, "tenant": row.tenant, "cases": json.loads(row.cases),
            "created_at": row.created_at, "revoked_at": row.revoked_at,
            "revoked_by": row.revoked_by}


def cmd_keys_list(args: argparse.Namespace) -> int:
    _check_tenant("keys list", args.tenant)
    ledger = _open()
    try:
        keys = [_key_out(r) for r in ledger.store.list_api_keys(args.tenant)]
    finally:
        ledger.close()
    if args.json:
        json.dump(keys, sys.stdout, indent=2)
        print()
        return 0
    for k in keys:
        state = f"revoked {k['revoked_at']} by {k['revoked_by']}" if k["revoked_at"] else "valid"
        cases = f"  cases: {', '.join(k['cases'])}" if k["cases"] else ""
        print(f"{k['id']}  {k['role']:<8} {k['tenant']:<20} created {k['created_at']}  "
              f"{state}{cases}")
    if not keys:
        print("temoin keys list: no key" + (f" for tenant {args.tenant!r}" if args.tenant else ""),
              file=sys.stderr)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from ledger.apikeys import parse_token

    key_id: str = args.id
    if parse_token(f"tm_{key_id}_{'A' * 43}") != key_id:
        raise CliError(f"keys revoke: a key id is 'key_' then 12 lowercase hex digits (as "
                       f"'temoin keys list' shows), got {key_id[:60]!r}")
    ledger = _open()
    try:
        row = ledger.store.api_key_row(key_id)
        if row is None:
            raise CliError(f"keys revoke: no key {key_id!r}; see 'temoin keys list'")
        if row.revoked_at is not None:
            print(f"key {key_id} was already revoked at {row.revoked_at} by {row.revoked_by}",
                  file=sys.stderr)
            return 0
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        ledger.store.revoke_api_key(key_id, now, CLI_REVOKER)
    finally:
        ledger.close()
    print(f"revoked {row.role} key {key_id} of tenant {row.tenant}: its token is refused (401) "
          "from the next request on", file=sys.stderr)
    return 0


def add_case_commands(sub: Any) -> None:
    p = sub.add_parser("cases", help="list cases from the case index (every tenant of a log, "
                                     "or one tenant)")
    p.add_argument("--tenant", help="only this tenant's cases (in its own log)")
    add_log_option(p)
    p.add_argument("--status", help="open or closed")
    p.add_argument("--opened-after", metavar="TIME", help="opened at or after this RFC 3339 time")
    p.add_argument("--opened-before", metavar="TIME", help="opened before this RFC 3339 time")
    p.add_argument("--q", metavar="TEXT", help="case id substring (case-insensitive)")
    p.add_argument("--limit", type=_count, default=100, metavar="N",
                   help="print at most N cases (default 100)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_cases)


def add_key_admin_commands(keys_sub: Any) -> None:
    """`keys list` and `keys revoke`, added to the `temoin keys` group."""
    p = keys_sub.add_parser("list", help="list API keys (never their tokens)")
    p.add_argument("--tenant", help="only this tenant's keys")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_keys_list)
    p = keys_sub.add_parser("revoke", help="revoke an API key: its token is refused at once")
    p.add_argument("id", help="the key id (key_ + 12 hex), as 'temoin keys list' shows")
    p.set_defaults(func=cmd_keys_revoke)
