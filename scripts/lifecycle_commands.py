"""`temoin erasure ...`, `temoin retention ...`: the personal-data lifecycle on the command line
(issue 12). Each works on one log of the database (issue 14 "Many logs"): `--log ID`, default
log 1, and says which."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.config import Settings
from scripts.read_commands import CliError, open_log


def _named(ledger: Any) -> str:
    return f"log {ledger.store.log_id} ({ledger.origin})"


def _add_log_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", type=int, metavar="ID",
                   help="the log to work on (`temoin logs list`; default 1)")


def _cmd_erasure_finish(args: argparse.Namespace) -> int:
    """Destroy what erasures recorded by a release that did not yet shred left in the vault."""
    from ledger.audit_erasure import check_erasures

    with open_log(args.log, None, whole_log=False) as (_, ledger):
        store = ledger.store
        notes, _ = check_erasures(store, store.tree_size())
        done = 0
        for note in notes:
            deleted = store.finish_erasure(note.case_id, note.case_seq, note.fields)
            if deleted:
                print(f"case {note.case}: {deleted} openings destroyed (entry {note.index})")
            done += deleted
        print(f"{_named(ledger)}: {len(notes)} erasures checked, {done} openings destroyed")
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
    _add_log_option(p)
    p.set_defaults(func=_cmd_erasure_finish)

    p = sub.add_parser("idempotency", help="Idempotency-Key records")
    idem_sub = p.add_subparsers(dest="idempotency_command", required=True)
    p = idem_sub.add_parser("purge", help="forget records older than N hours (the server also "
                                          "does it every hour)")
    p.add_argument("--older-than-hours", type=float, default=48.0,
                   help="at least 24 (default 48)")
    p.set_defaults(func=_cmd_idempotency_purge)

    p = sub.add_parser("retention", help="retention classes: what is due, destroy it, certify")
    ret_sub = p.add_subparsers(dest="retention_command", required=True)
    p = ret_sub.add_parser("due", help="list the cases whose retention ran out (and held ones)")
    p.add_argument("--as-of", help="evaluate at this time instead of now (RFC 3339 or date)")
    p.add_argument("--json", action="store_true")
    _add_log_option(p)
    p.set_defaults(func=_cmd_retention_due)
    p = ret_sub.add_parser(
        "apply", help="crypto-shred the personal data and delete the evidence files of due "
                      "cases, one entry each; write a signed destruction certificate")
    p.add_argument("--dry-run", action="store_true", help="say what would be destroyed")
    p.add_argument("--as-of", help=argparse.SUPPRESS)  # tests and rehearsals
    p.add_argument("--run", help="resume this run id (default: an unfinished run, or new)")
    p.add_argument("--out", help="folder for the certificate (default DATA_DIR/retention)")
    p.add_argument("--progress", action="store_true", help="show progress even when piped")
    _add_log_option(p)
    p.set_defaults(func=_cmd_retention_apply)
    p = ret_sub.add_parser("certificate", help="write the certificate of a run again, from "
                                               "the log")
    p.add_argument("run")
    p.add_argument("--out", help="folder (default DATA_DIR/retention)")
    _add_log_option(p)
    p.set_defaults(func=_cmd_retention_certificate)


# -- retention ---------------------------------------------------------------------------------


def _as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--as-of must be an RFC 3339 time or a date (YYYY-MM-DD), got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _runs_dir(settings: Settings) -> Path:
    """The runs of one log: DATA_DIR/retention for log 1, DATA_DIR/logs/<id>/retention for
    another (an unfinished run of one log is never resumed on another)."""
    path = settings.log_dir / "retention"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextmanager
def _retention_log(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """The log to work on, and the other logs of the database as readers: the evidence folder
    is shared, so a log's plan keeps the files their cases still cite (ledger/retention/plan.py).
    """
    from ledger.log_stores import LogStores

    with open_log(args.log, None, whole_log=False) as (logs, ledger):
        stores = LogStores(logs.settings, main=logs.main.store)
        try:
            yield ledger, [stores.reader(i) for i in logs.log_ids()
                           if i != ledger.store.log_id]
        finally:
            stores.close()


def _cmd_retention_due(args: argparse.Namespace) -> int:
    from ledger.retention.plan import describe
    from ledger.retention.run import current_plan

    with _retention_log(args) as (ledger, others):
        plan = current_plan(ledger, _as_of(args.as_of), others=others)
        named = _named(ledger)
        log_id = ledger.store.log_id
    if args.json:
        print(json.dumps({
            "log": log_id,
            "due": [{"tenant": d.facts.tenant, "case": d.facts.case,
                     "retention_class": d.retention_class,
                     "due_since": d.due_since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "fields": "all" if d.fields is None else list(d.fields),
                     "evidence_files": list(d.files)} for d in plan.due],
            "held": [{"tenant": h.facts.tenant, "case": h.facts.case, "holds": list(h.holds),
                      "due_since": h.due_since.strftime("%Y-%m-%dT%H:%M:%SZ")}
                     for h in plan.held],
            "leftover_files": plan.leftover_files,
        }, indent=2))
        return 0
    for line in describe(plan.due):
        print(f"due: {line}")
    for h in plan.held:
        print(f"held: {h.facts.tenant}/{h.facts.case}: class {h.retention_class} ran out "
              f"{h.due_since:%Y-%m-%d}, suspended by legal hold {', '.join(h.holds)}")
    if plan.leftover_files:
        print(f"{len(plan.leftover_files)} evidence files recorded as destroyed are still on "
              "disk: `temoin retention apply` deletes them")
    print(f"{named}: {len(plan.due)} due, {len(plan.held)} held")
    return 0


def _cmd_retention_apply(args: argparse.Namespace) -> int:
    from ledger.retention.plan import describe
    from ledger.retention.run import apply, current_plan, new_run_id
    from scripts.progress import ProgressBar

    now = _as_of(args.as_of)
    with _retention_log(args) as (ledger, others):
        runs = _runs_dir(ledger.settings)
        named = _named(ledger)
        plan = current_plan(ledger, now, ProgressBar("reading the log", force=args.progress),
                            others=others)
        if args.dry_run:
            for line in describe(plan.due):
                print(f"would erase: {line}")
            print(f"dry run of {named}: {len(plan.due)} cases due, {len(plan.held)} held, "
                  f"{len(plan.leftover_files)} leftover files; nothing changed")
            return 0
        unfinished = sorted(p.stem for p in runs.glob("*.started")
                            if not (runs / f"{p.stem}.done").exists())
        run = args.run or (unfinished[-1] if unfinished else new_run_id(now))
        if run in unfinished:
            print(f"resuming retention run {run}, which did not finish")
        (runs / f"{run}.started").write_text(now.strftime("%Y-%m-%dT%H:%M:%SZ") + "\n")
        result = apply(ledger, plan, run,
                       progress=ProgressBar("destroying", force=args.progress))
        for skipped in result.skipped:
            print(f"skipped: {skipped}")
        out = Path(args.out) if args.out else runs
        paths = _certificate(ledger, run, out)
        (runs / f"{run}.done").write_text(str(paths[0]) + "\n")
    print(f"run {run} of {named}: {result.erased} cases erased, {result.files_deleted} "
          f"evidence files deleted, {len(result.skipped)} skipped; certificate {paths[0]} and "
          f"{paths[1]}")
    return 0


def _certificate(ledger: Any, run: str, out: Path) -> tuple[Path, Path]:
    import orjson

    from ledger.retention.certificate import write_certificate
    from projections.pdf.certificate_pdf import render_certificate_pdf

    out.mkdir(parents=True, exist_ok=True)
    checkpoint = ledger.sign_checkpoint()
    classes = {c.name: {"duration": c.duration, "basis": c.basis}
               for c in ledger.retention.classes.values()}
    path = out / f"{run}.destruction.jsonl"
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        write_certificate(fh, ledger.store, ledger.key, checkpoint, run, classes)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    header, summary, items = None, {}, []

    def lines() -> Any:
        with path.open("rb") as fh:
            for raw in fh:
                yield orjson.loads(raw)

    for obj in lines():
        if header is None:
            header = obj
        elif "summary" in obj:
            summary = obj["summary"]
    items = (obj["item"] for obj in lines() if "item" in obj)
    pdf = out / f"{run}.destruction.pdf"
    pdf.write_bytes(render_certificate_pdf(header or {}, items, summary, path.name))
    return path, pdf


def _cmd_retention_certificate(args: argparse.Namespace) -> int:
    with open_log(args.log, None, whole_log=False) as (_, ledger):
        paths = _certificate(ledger, args.run, Path(args.out) if args.out else
                             _runs_dir(ledger.settings))
        named = _named(ledger)
    print(f"certificate of run {args.run} of {named}: {paths[0]} and {paths[1]}")
    return 0


def verify_certificate_command(path: Path, key: str | None) -> int:
    from ledger.retention.certificate import CertificateError, verify_certificate

    try:
        report = verify_certificate(path, key)
    except CertificateError as exc:
        raise CliError(f"{path}: {exc}") from None
    for problem in report.problems:
        print(f"FAILED: {problem}")
    if report.ok:
        trust = ("the key you gave" if key else
                 "the key the certificate names (give --key to check it against yours)")
        print(f"VERDICT: the destruction certificate of run {report.run} is intact and signed "
              f"by {report.signed_by} ({trust}): {report.items} cases, {report.evidence_files} "
              f"evidence files, every entry in the log at checkpoint size "
              f"{report.checkpoint_size}")
        return 0
    print(f"VERDICT: FAILED — {len(report.problems)} problems; do not rely on this certificate")
    return 1
