"""`temoin`: the command line of API.md ("Command line")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ledger.config import ConfigError, Settings


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.bundle:
        from scripts.verify_bundle import main as verify_bundle

        return verify_bundle(args.bundle, key=args.key)
    from ledger.audit import verify_log
    from ledger.ledger import Ledger
    from scripts.progress import ProgressBar

    ledger = Ledger(Settings.from_env())
    try:
        report = verify_log(
            ledger.store,
            ledger.key.verifier(),
            master=ledger.master,
            evidence_dir=ledger.settings.evidence_dir,
            progress=ProgressBar("verifying", force=args.progress),
        )
    finally:
        ledger.close()
    for anomaly in report.anomalies:
        print(anomaly)
    summary = (
        f"{report.entries:,} entries, {report.nodes:,} interior nodes, "
        f"{report.checkpoints} checkpoints, {report.openings} openings, "
        f"{report.evidence_files} evidence files checked; log size {report.tree_size:,}"
    )
    if report.ok:
        print(f"OK: {summary}")
        return 0
    print(f"FAILED: {len(report.anomalies)} anomalies; {summary}")
    return 1


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    from ledger.ledger import Ledger

    ledger = Ledger(Settings.from_env())
    try:
        cp = ledger.sign_checkpoint()
        sys.stdout.write(cp.note.decode())
    finally:
        ledger.close()
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from ledger.signing import LogKey

    settings = Settings.from_env()
    key = LogKey.load_or_create(settings.key_path, settings.origin)
    print(key.verifier_key)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from scripts.demo import main as demo

    return demo(Settings.from_env())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="temoin",
        description="Témoin: a proof-archiving ledger for e-commerce disputes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("verify", help="verify the whole log, or an evidence bundle offline")
    p.add_argument("bundle", nargs="?", help="a bundle .zip to verify offline (no database)")
    p.add_argument("--key", help="verifier key to trust for a bundle (name+id+base64)")
    p.add_argument("--progress", action="store_true", help="show progress even when piped")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("checkpoint", help="sign a checkpoint now if the log grew; print it")
    p.set_defaults(func=_cmd_checkpoint)

    p = sub.add_parser(
        "keygen", help="create the log signing key if missing; print its verifier key"
    )
    p.set_defaults(func=_cmd_keygen)
    p = sub.add_parser("demo", help="load realistic demo dispute cases (every event type)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"temoin: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
