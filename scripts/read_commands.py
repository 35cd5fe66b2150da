"""`temoin replay`, `temoin report`, `temoin projections`: reading the log from the shell.

Each works on one log of the database (issue 14 "Many logs"): `--log ID`, else the log of
`--tenant`, else log 1 (`open_log`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.config import Settings
from ledger.errors import ValidationError
from ledger.store.migrations.v2 import LOG_ONE

if TYPE_CHECKING:  # the ledger pulls in eventsourcing: imported by the commands that run
    from ledger.logs import LogSet


class CliError(ValidationError):
    """A user mistake on the command line; printed without a traceback, exit 2."""


def pick_log(logs: LogSet, log_id: int | None, tenant: str | None) -> int:
    """`--log ID` checked against the database, else the log of `--tenant`, else log 1; a
    tenant named with another log than its own is a mistake, said as such."""
    ids = logs.log_ids()
    if log_id is not None and log_id not in ids:
        raise CliError(f"no log {log_id} in this database; its logs: "
                       f"{', '.join(map(str, ids))} (`temoin logs list`)")
    if tenant:
        own = logs.log_of(tenant)
        if log_id is not None and own != log_id:
            raise CliError(f"tenant {tenant!r} writes to log {own}, not log {log_id}: "
                           f"drop --log or name log {own}")
        return own
    return LOG_ONE if log_id is None else log_id


@contextmanager
def open_log(log_id: int | None, tenant: str | None, *,
             whole_log: bool = True) -> Iterator[tuple[LogSet, Any]]:
    """The logs of the database and the Ledger of the one a command works on
    (`pick_log`); `whole_log`: without a statement timeout (Settings.for_whole_log_work)."""
    from ledger.logs import LogSet

    settings = Settings.from_env()
    logs = LogSet(settings.for_whole_log_work() if whole_log else settings)
    try:
        yield logs, logs.ledger(pick_log(logs, log_id, tenant))
    finally:
        logs.close()


def add_log_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", type=int, metavar="ID",
                   help="the log to work on (`temoin logs list`; default: the log of --tenant, "
                        "else log 1)")


def resolve_tenant(ledger: Any, case: str, tenant: str | None) -> str:
    """Case ids are scoped per tenant: find the tenant when only one has this case id (in
    the ledger's log: its projections, caught up first)."""
    if tenant:
        return tenant
    from projections.runner import ProjectionRunner

    ProjectionRunner(ledger.store).catch_up()
    tenants = sorted({row.tenant for row in ledger.store.all_case_index() if row.case == case})
    if not tenants:
        raise CliError(f"no case {case!r} in log {ledger.store.log_id}" + (
            " (another log's case: name its tenant with --tenant, or --log ID)"
            if ledger.store.log_id == LOG_ONE else ""))
    if len(tenants) > 1:
        raise CliError(f"case {case!r} exists for several tenants ({', '.join(tenants)}): "
                       f"add --tenant")
    return tenants[0]


def _language(args: argparse.Namespace) -> Any:
    from projections.i18n import UnsupportedLanguageError, cli_language, translator

    try:
        return translator(cli_language(getattr(args, "lang", None)))
    except UnsupportedLanguageError as exc:
        raise CliError(f"{exc}; or set TEMOIN_LANG") from None


def _print_timeline(view: dict[str, Any], tr: Any) -> None:
    from projections.pdf.story import clock_label, clock_status, event_name

    status = {"open": tr.t("open"), "closed": tr.t("closed")}.get(view["status"], view["status"])
    print(tr.t("case {case} (tenant {tenant}) — {status}, as of log size {size}").format(
        case=view["case"], tenant=view["tenant"], status=status, size=view["as_of_size"]))
    for row in view["entries"]:
        late = "  " + tr.t("LATE") if row["late"] else ""
        facts = ", ".join(f"{k}={v}" for k, v in sorted(row["data"].items()))
        print(f"  #{row['index']:<6} seq {row['case_seq']:<3} {row['occurred_at']}  "
              f"{event_name(tr, row['type'])} ({row['type']})  {facts}{late}")
        for ev in row["evidence"]:
            print(f"          evidence {ev['role']}: {ev['sha256']} ({ev['media_type']}, "
                  f"{ev['size']} bytes)")
    if view["clocks"]:
        print(tr.t("legal clocks:"))
    for clock in view["clocks"]:
        line = tr.t("{label}: last day {last_day}, ends 23:59:59 {timezone} = {deadline} "
                    "({rule})").format(
            label=clock_label(tr, clock, view["entries"]), last_day=clock["last_day"],
            timezone=clock["timezone"], deadline=clock["deadline"], rule=clock["rule"])
        print(f"  {clock_status(tr, clock['status']).upper():<11} {line}")


def cmd_replay(args: argparse.Namespace) -> int:
    from projections.views import (
        CaseNotYetError,
        SizeOutOfRangeError,
        UnknownCaseError,
        timeline,
    )

    tr = _language(args)
    with open_log(args.log, args.tenant) as (_, ledger):
        tenant = resolve_tenant(ledger, args.case, args.tenant)
        try:
            view = timeline(ledger, tenant, args.case, size=args.size)
        except SizeOutOfRangeError as exc:
            raise CliError(str(exc)) from exc
        except CaseNotYetError as exc:
            raise CliError(f"{exc}; use --size > {exc.first_index}") from exc
        except UnknownCaseError as exc:  # another tenant's case, named with --tenant
            raise CliError(f"no case {args.case!r} for tenant {tenant!r}") from exc
    if args.json:
        json.dump(view, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        _print_timeline(view, tr)
    return 0


def _trust_anchors() -> dict[str, Any]:
    """TEMOIN_TSA_ROOTS and TEMOIN_WITNESSES, as `temoin serve` reads them, for the report's
    trusted_time and witnesses sections."""
    from api.timestamper import TimestampConfig
    from api.witnessing import WitnessSettings

    try:
        roots = TimestampConfig.from_env().roots_pem
        witnesses = WitnessSettings.from_env().witnesses
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return {"tsa_roots": roots, "witness_keys": [str(w.verifier) for w in witnesses]}


def cmd_report(args: argparse.Namespace) -> int:
    from ledger.case_file import read_case_file
    from projections.report import report_of

    tr = _language(args)
    with open_log(args.log, args.tenant) as (logs, ledger):
        journal = logs.journal(ledger.store.log_id)
        tenant = resolve_tenant(ledger, args.case, args.tenant)
        # One read of the case (ledger/case_file.py) for the report and its PDF.
        file = read_case_file(ledger, tenant, args.case, checkpoint=ledger.sign_checkpoint(),
                              openings=True, evidence=True)
        report = report_of(file, access_journal=journal.journal(tenant, args.case),
                           **_trust_anchors())
        if report is None:
            raise CliError(f"no case {args.case!r} for tenant {tenant!r}")
        if args.pdf:
            from projections.pdf import render_report_pdf
            from projections.pdf.sources import case_file_evidence

            # Photos as thumbnails; no openings: like the HTTP report, it names nobody.
            Path(args.pdf).write_bytes(render_report_pdf(
                report, lang=tr.lang, evidence=case_file_evidence(file)))
            print(f"wrote {args.pdf}", file=sys.stderr)
    if args.json or not args.pdf:
        if args.json:
            json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            from projections.pdf.report_pdf import check_name, status_label, verdict_line

            for check in report["checks"]:
                print(f"{status_label(tr, check['status']):<13} {check['place']}: "
                      f"{check_name(tr, check['name'])}")
            print(verdict_line(tr, report))
    return 0 if report["verdict"] != "KO" else 1


def cmd_projections(args: argparse.Namespace) -> int:
    from projections.runner import ProjectionRunner
    from scripts.progress import ProgressBar

    with open_log(args.log, None) as (_, ledger):
        runner = ProjectionRunner(ledger.store)
        of = f" of log {ledger.store.log_id}" if ledger.store.log_id != LOG_ONE else ""
        if args.action == "rebuild":
            applied = runner.rebuild(ProgressBar("rebuilding", force=args.progress))
            print(f"rebuilt the case index and timelines{of} from {applied:,} entries")
        elif args.action == "catch-up":
            applied = runner.catch_up(ProgressBar("catching up", force=args.progress))
            print(f"applied {applied:,} new entries{of}")
        else:
            print(f"position {runner.position():,} of {ledger.tree_size():,} entries{of}")
    return 0


def add_read_commands(sub: Any) -> None:
    p = sub.add_parser("replay", help="print a case timeline as of a tree size")
    p.add_argument("case")
    p.add_argument("--size", type=int, help="tree size to replay at (default: latest)")
    p.add_argument("--tenant", help="tenant of the case (needed when several have this id)")
    p.add_argument("--json", action="store_true", help="print the timeline JSON")
    p.add_argument("--lang", help="language of what a person reads: fr (default) or en; "
                                  "default from TEMOIN_LANG")
    add_log_option(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("report", help="the integrity report of a case")
    p.add_argument("case")
    p.add_argument("--tenant", help="tenant of the case (needed when several have this id)")
    p.add_argument("--pdf", metavar="FILE", help="write the PDF report to FILE")
    p.add_argument("--json", action="store_true", help="print the report JSON")
    p.add_argument("--lang", help="language of what a person reads: fr (default) or en; "
                                  "default from TEMOIN_LANG")
    add_log_option(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("projections", help="the read-side projections (case index, timelines)")
    p.add_argument("action", choices=["rebuild", "catch-up", "status"])
    p.add_argument("--progress", action="store_true", help="show progress even when piped")
    p.add_argument("--log", type=int, metavar="ID", help="the log whose projections (default 1)")
    p.set_defaults(func=cmd_projections)
