"""`temoin`: the command line of API.md ("Command line")."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ledger.config import ConfigError, Settings
from ledger.custody import KeyCustodyError, custody_message
from ledger.errors import DatabaseUnavailableError, UnavailableError
from ledger.store.migrations.version import SchemaVersionError
from scripts.find_commands import add_case_commands, add_key_admin_commands
from scripts.key_commands import add_key_backup_commands
from scripts.lifecycle_commands import add_lifecycle_commands
from scripts.log_commands import add_log_commands
from scripts.migrate_command import add_migrate_command
from scripts.monitor import add_monitor_command
from scripts.read_commands import CliError, add_read_commands
from scripts.trust_commands import add_signer_commands
from scripts.witness_commands import add_witness_commands, normalise

if TYPE_CHECKING:
    from ledger.logs import LogSet
    from ledger.signing import LogKey


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.bundle:
        if args.trusted:
            raise CliError("--trusted checks the stored log against checkpoints; it does not "
                           "apply to a bundle (a bundle's checkpoint.txt can be --trusted)")
        from pathlib import Path

        from ledger.retention.certificate import is_certificate
        from scripts.lifecycle_commands import verify_certificate_command
        from scripts.verify_bundle import main as verify_bundle

        if is_certificate(Path(args.bundle)):
            return verify_certificate_command(Path(args.bundle), args.key)

        return verify_bundle(args.bundle, key=args.key, lang=args.lang,
                             tsa_roots=args.tsa_roots, witnesses=args.witness,
                             quorum=args.quorum)
    if args.tsa_roots is not None or args.witness or args.quorum is not None:
        raise CliError("--tsa-roots, --witness and --quorum check an evidence bundle: give "
                       "the bundle's .zip file too")
    from ledger.logs import LogSet
    from scripts.log_commands import chosen_logs

    logs = LogSet(Settings.from_env().for_whole_log_work())
    try:
        chosen = chosen_logs(logs, args.log)
        if args.trusted and len(chosen) > 1:
            raise CliError("--trusted checkpoints belong to one log: name it with --log ID")
        verdicts = []
        for log_id in chosen:
            label = f"log {log_id} ({logs.settings_for(log_id).origin}): " if (
                len(chosen) > 1 or log_id != 1) else ""
            verdicts.append(_verify_one(logs, log_id, args, label))
    finally:
        logs.close()
    return 0 if all(verdicts) else 1


def _verify_one(logs: LogSet, log_id: int, args: argparse.Namespace, label: str) -> bool:
    """Verify one log and its access journal; print its verdict (prefixed by `label`)."""
    from ledger.audit import verify_log
    from ledger.domain.access import trail_uuid
    from scripts.progress import ProgressBar
    from scripts.trust_commands import TrustedInputError, read_all_trusted, trust_anomalies

    ledger, journal = logs.ledger(log_id), logs.journal(log_id)
    try:
        trusted = read_all_trusted(args.trusted, ledger, journal)
    except TrustedInputError as exc:
        raise CliError(f"--trusted {exc}") from None
    report = verify_log(
        ledger.store,
        ledger.key.verifier(),
        master=ledger.master,
        evidence_dir=ledger.settings.evidence_dir,
        progress=ProgressBar(f"verifying log {log_id}" if label else "verifying the case log",
                             force=args.progress),
    )
    access = verify_log(
        journal.store,
        journal.key.verifier(),
        progress=ProgressBar("verifying the access journal", force=args.progress),
        aggregate_id=trail_uuid,
    )
    # Checkpoints signed outside the database: an attacker of the database cannot delete
    # them, so they catch a consistent rewrite or a rollback that the stored ones cannot.
    outside = trust_anomalies(ledger, journal, trusted)
    for anomaly in report.anomalies:
        print(f"{label}{anomaly.message()}")
    for erasure in report.erasures:
        print(f"{label}{erasure}")
    for anomaly in access.anomalies:
        print(f"{label}access journal {anomaly.message()}")
    for anomaly in outside:
        print(f"{label}{anomaly}")
    summary = (
        f"{report.entries:,} entries, {report.nodes:,} interior nodes, "
        f"{report.checkpoints} checkpoints, {report.openings} openings, "
        f"{len(report.erasures)} erasures, "
        f"{report.evidence_files} evidence files checked; log size {report.tree_size:,}; "
        f"access journal: {access.entries:,} entries, {access.checkpoints} checkpoints; "
        f"signer states and {len(trusted)} trusted checkpoints compared"
    )
    if report.ok and access.ok and not outside:
        print(f"{label}OK: {summary}")
        return True
    count = len(report.anomalies) + len(access.anomalies) + len(outside)
    print(f"{label}FAILED: {count} anomalies; {summary}")
    return False


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    from ledger.logs import LogSet
    from ledger.signer_state import SignerStateError

    logs = LogSet(Settings.from_env())
    try:
        # Log 1's case log first: `temoin checkpoint | head -4` stays what it was. Then each
        # further log of the database, case log then access journal.
        ids = logs.log_ids()
        for log_id in ids:  # every key checked (custody) before anything is signed
            logs.journal(log_id)
        for log_id in ids:
            for log in (logs.ledger(log_id), logs.journal(log_id)):
                try:
                    cp = log.sign_checkpoint()
                except SignerStateError as exc:
                    print(f"temoin checkpoint: REFUSED: {exc}", file=sys.stderr)
                    return 1
                sys.stdout.write(cp.note.decode())
    finally:
        logs.close()
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from ledger.application import CaseLog
    from ledger.custody import open_signing_key

    settings = Settings.from_env()
    # Through the database: a missing key is only created if no checkpoint was ever signed.
    # The store alone, not a LogSet: that would open log 1 with its keys, created if missing.
    apps = [CaseLog(env=settings.persistence_env())]
    try:
        if args.log is not None and args.log != 1:
            origins = {row.log_id: row.origin for row in apps[0].store.registered_logs()}
            if args.log not in origins:
                raise CliError(f"no log {args.log} in this database; its logs: "
                               f"{', '.join(map(str, [1, *origins]))} (`temoin logs list`)")
            settings = settings.for_log(args.log, origins[args.log])
            apps.append(CaseLog(env=settings.persistence_env()))
        key = open_signing_key(apps[-1].store, settings.key_path, settings.origin,
                               "the case log")
    finally:
        for app in apps:
            app.close()
    print(key.verifier_key)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from scripts.demo import main as demo

    return demo(Settings.from_env())


def _cmd_viewer(args: argparse.Namespace) -> int:
    from pathlib import Path

    from viewer import single_file_verifier

    try:
        Path(args.out).write_text(single_file_verifier(), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror or exc}; give a path in a "
                       "folder that exists and that you may write to") from None
    print(f"wrote {args.out}: the bundle verifier in one HTML file; open it in a browser, "
          "no server or network needed", file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 60 seconds, got {text}")
    return value


def _cmd_serve(args: argparse.Namespace) -> int:
    from api.limits import Limits
    from api.timestamper import TimestampConfig

    settings = Settings.from_env()
    limits = Limits.from_env()
    timestamps = TimestampConfig.from_env()  # a bad TEMOIN_TSA_* stops here, before listening
    # Opened here (not only in the app's start-up) so that the key can be printed first (it is
    # what auditors need to check every checkpoint this server will sign), and so that a key
    # missing or replaced over an existing log stops us with one clear message before uvicorn
    # starts (KeyCustodyError, exit 2).
    key = _check_keys(settings)
    import uvicorn

    from api.app import create_app

    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Témoin serving log {settings.origin} on http://{host}:{args.port}", flush=True)
    print(f"verifier key: {key.verifier_key}", flush=True)
    print(f"API documentation: http://{host}:{args.port}/docs", flush=True)
    if timestamps.urls:
        print(f"RFC 3161 time-stamps from: {' '.join(timestamps.urls)}", flush=True)
    if args.workers > 1:
        # Each worker process builds its own app from the environment; the store already
        # serialises writers across processes (one tree, dense indices).
        os.environ["TEMOIN_PROJECTIONS"] = args.projections
        uvicorn.run(
            "api.app:app_from_env", factory=True, workers=args.workers, host=args.host,
            port=args.port, log_level=args.log_level, proxy_headers=False,
            timeout_graceful_shutdown=args.shutdown_timeout,
        )
        return 0
    uvicorn.run(
        create_app(settings, limits=limits, projections=args.projections,
                   timestamps=timestamps),
        host=args.host, port=args.port,
        log_level=args.log_level, proxy_headers=False,
        timeout_graceful_shutdown=args.shutdown_timeout,
    )
    return 0


def _check_keys(settings: Settings) -> LogKey:
    """Open the case log and the access journal once (which checks every key file against the
    database and creates missing keys on a fresh one); the case log's key."""
    from ledger.access import AccessJournal
    from ledger.custody import KeyCustodyError
    from ledger.ledger import Ledger

    problems: list[str] = []
    key: LogKey | None = None
    try:
        ledger = Ledger(settings)
    except KeyCustodyError as exc:
        problems += exc.problems
    else:
        key = ledger.key
        ledger.close()
    try:
        AccessJournal(settings).close()
    except KeyCustodyError as exc:
        problems += exc.problems
    if problems:
        raise KeyCustodyError(problems)
    assert key is not None
    return key


def _cmd_keys_create(args: argparse.Namespace) -> int:
    import json

    from ledger.apikeys import KeyRequestError, check_key_request, create_key
    from ledger.ledger import Ledger

    try:
        check_key_request(args.role, args.tenant, args.case)
    except KeyRequestError as exc:
        hint = " (add --case CASE, once per case)" if exc.field == "cases" else ""
        print(f"temoin keys create: {exc}{hint}", file=sys.stderr)
        return 2
    ledger = Ledger(Settings.from_env())
    try:
        key_id, token = create_key(ledger.store, args.role, args.tenant, args.case)
    finally:
        ledger.close()
    if args.json:
        out: dict[str, object] = {"id": key_id, "token": token, "role": args.role,
                                  "tenant": args.tenant}
        if args.case:
            out["cases"] = list(dict.fromkeys(args.case))
        print(json.dumps(out))
    else:
        # Only the token on stdout, so that TOKEN=$(temoin keys create ...) works.
        print(
            f"created {args.role} key {key_id} for tenant {args.tenant}; the token below is "
            "shown only once, store it now",
            file=sys.stderr,
        )
        print(token)
    return 0


def _add_service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`temoin serve` and `temoin keys create` (API.md "Command line")."""
    p = sub.add_parser(
        "serve",
        help="run the HTTP service (creates the database, data folder and keys if missing; "
             "refuses to replace keys the database shows existed)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--workers", type=_positive, default=1,
                   help="server processes (default 1); each has its own group commit, rate "
                        "limits and /metrics, and they share one log")
    p.add_argument("--projections", default="process", choices=["process", "thread"],
                   help="keep timelines and the case index current from a child process "
                        "(default: it uses another core) or from a thread of the server")
    # Bounded so that a stop (SIGTERM from systemd, Ctrl-C) always ends well within systemd's
    # TimeoutStopSec, even with a client that never finishes its request (docs/DEPLOY.md).
    p.add_argument("--shutdown-timeout", type=_seconds, default=3.0, metavar="SECONDS",
                   help="on SIGTERM or SIGINT, how long requests in flight may take to finish "
                        "before they are cut (default 3); no new connection is accepted")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("keys", help="API keys; backups of the signing and vault keys")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    add_key_backup_commands(keys_sub)
    p = keys_sub.add_parser("create", help="create an API key and print its token (only once)")
    p.add_argument("--role", required=True, choices=["appender", "auditor", "lawyer", "admin"])
    p.add_argument("--tenant", required=True, help="the tenant the key belongs to")
    p.add_argument("--case", action="append", default=[], metavar="CASE",
                   help="a case a lawyer key may read (repeat; required for lawyers)")
    p.add_argument("--json", action="store_true",
                   help='print {"id", "token", "role", "tenant"} as JSON')
    p.set_defaults(func=_cmd_keys_create)
    add_key_admin_commands(keys_sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="temoin",
        description="Témoin: a proof-archiving ledger for e-commerce disputes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("verify", help="verify the whole log, or an evidence bundle offline")
    p.add_argument("bundle", nargs="?", help="a bundle .zip to verify offline (no database)")
    p.add_argument("--key", help="verifier key to trust for a bundle (name+id+base64)")
    p.add_argument("--lang", help="language of a bundle's verdict: fr (default) or en; "
                                  "default from TEMOIN_LANG")
    p.add_argument("--tsa-roots", metavar="PEM",
                   help="bundle: root certificates of the TSAs you trust; without it time-stamp "
                        "tokens are checked for content only")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY",
                   help="bundle: a witness verifier key you trust (repeat for each)")
    p.add_argument("--quorum", type=int, metavar="N",
                   help="bundle: how many of the --witness keys must have cosigned "
                        "(default: all of them)")
    p.add_argument("--progress", action="store_true", help="show progress even when piped")
    p.add_argument("--trusted", nargs="+", default=[], metavar="FILE",
                   help="signed checkpoints kept elsewhere (a bundle's checkpoint.txt, a "
                        "witness's or monitor's copy): the stored log must extend each")
    p.add_argument("--log", type=int, metavar="ID",
                   help="verify this log only (`temoin logs list`); default: every log of the "
                        "database, each with its own verdict")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("checkpoint", help="sign a checkpoint of the case log and of the access "
                                          "journal now if they grew (of every log); print them")
    p.set_defaults(func=_cmd_checkpoint)

    p = sub.add_parser(
        "keygen", help="create the log signing key if missing; print its verifier key"
    )
    p.add_argument("--log", type=int, metavar="ID",
                   help="the log (`temoin logs list`; default 1): its key in DATA_DIR/logs/<ID>/")
    p.set_defaults(func=_cmd_keygen)
    add_read_commands(sub)
    add_case_commands(sub)
    add_signer_commands(sub)
    add_monitor_command(sub)
    add_lifecycle_commands(sub)
    add_log_commands(sub)

    p = sub.add_parser("viewer", help="write the offline bundle verifier as one HTML file")
    p.add_argument("--out", required=True, help="the HTML file to write (e.g. verify.html)")
    p.set_defaults(func=_cmd_viewer)

    p = sub.add_parser("demo", help="load realistic demo dispute cases (every event type)")
    p.set_defaults(func=_cmd_demo)
    _add_service_commands(sub)
    add_witness_commands(sub)
    add_migrate_command(sub)
    return parser


# sysexits.h: a temporary failure, the command may be run again as it is (cron, systemd and
# shell loops can tell it from a refusal, 2, which retrying does not cure).
EX_TEMPFAIL = 75


def unavailable_message(exc: UnavailableError) -> str:
    """One sentence for a database that is down or busy. Unlike an HTTP client, the operator
    may see the driver's own words (host, port, file): they say which setting to check."""
    cause = exc.__cause__
    detail = f" ({str(cause).strip().splitlines()[0]})" if cause and str(cause).strip() else ""
    check = ("; check that the database of TEMOIN_DATABASE_URL is up and reachable"
             if isinstance(exc, DatabaseUnavailableError) else "")
    return f"{exc}{detail}{check}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    normalise(args)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"temoin: configuration error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"temoin: {exc}", file=sys.stderr)
        return 2
    except KeyCustodyError as exc:
        print(f"temoin: {custody_message(exc)}", file=sys.stderr)
        return 2
    except SchemaVersionError as exc:
        print(f"temoin: {exc}", file=sys.stderr)
        return 2
    except UnavailableError as exc:
        print(f"temoin: {unavailable_message(exc)}", file=sys.stderr)
        return EX_TEMPFAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
