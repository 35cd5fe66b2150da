"""`temoin witness key|add-log|serve`: run a C2SP tlog-witness (README "Witnesses")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.read_commands import CliError

DEFAULT_NAME = "temoin.localhost/witness"


def _data_dir(args: argparse.Namespace, *, create: bool) -> Path:
    data = Path(args.data)
    if create:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not data.is_dir():
        raise CliError(f"witness data folder {data} does not exist; create the witness first "
                       f"with `temoin witness key --data {data}`")
    return data


def _cmd_key(args: argparse.Namespace) -> int:
    from ledger.cosignature import WitnessKey
    from ledger.signing import CheckpointError
    from witness.state import KEY_NAME, WitnessState

    data = _data_dir(args, create=True)
    try:
        key, created = WitnessKey.load_or_create(data / KEY_NAME, args.name)
    except CheckpointError as exc:  # a bad --name, or a damaged key file
        raise CliError(str(exc)) from None
    if not created and args.name_given and key.name != args.name:
        raise CliError(f"{data / KEY_NAME} already holds the key of witness {key.name!r}, not "
                       f"{args.name!r}; use another --data folder for another witness")
    WitnessState(data).close()  # creates the state database now, not at the first request
    if created:
        print(f"created witness key {key.name} in {data / KEY_NAME}", file=sys.stderr)
    print(key.verifier_key)
    return 0


def _cmd_add_log(args: argparse.Namespace) -> int:
    from ledger.checkpoint import Checkpoint
    from ledger.signing import CheckpointError, Verifier
    from witness.state import KEY_NAME, WitnessState

    data = _data_dir(args, create=False)
    if not (data / KEY_NAME).is_file():
        raise CliError(f"no witness key in {data}; run `temoin witness key --data {data}` first")
    try:
        Checkpoint(args.origin, 0, bytes(32))  # the origin rules of a checkpoint's first line
        verifier = Verifier.parse(args.key)
    except CheckpointError as exc:
        raise CliError(f"--origin/--key: {exc}") from None
    state = WitnessState(data)
    try:
        changed = state.add_log(args.origin, str(verifier))
    finally:
        state.close()
    verb = "trusts" if changed else "already trusted"
    print(f"witness {verb} {verifier} for log {args.origin}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ledger.cosignature import WitnessKey
    from ledger.signing import CheckpointError
    from witness.server import create_witness_app
    from witness.state import KEY_NAME

    data = _data_dir(args, create=False)
    try:
        key = WitnessKey.load(data / KEY_NAME)
    except FileNotFoundError:
        raise CliError(f"no witness key in {data}; run `temoin witness key --data {data}` "
                       "first") from None
    except CheckpointError as exc:
        raise CliError(str(exc)) from None
    app = create_witness_app(data)
    logs = app.state.witness.state.logs()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Témoin witness {key.name} on http://{host}:{args.port}/add-checkpoint", flush=True)
    print(f"witness key: {key.verifier_key}", flush=True)
    if not logs:
        print("no log added yet: every checkpoint gets 404 until `temoin witness add-log`",
              flush=True)
    for state in logs:
        print(f"witnessing {state.origin} (cosigned size {state.size or 0})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                proxy_headers=False)
    return 0


def add_witness_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("witness", help="run a C2SP tlog-witness that cosigns other logs")
    wsub = p.add_subparsers(dest="witness_command", required=True)
    data_help = "the witness's folder (its key and its SQLite state)"

    p = wsub.add_parser("key", help="create the witness key if missing; print its verifier key")
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--name", default=None,
                   help=f"the witness's name for a new key (default {DEFAULT_NAME})")
    p.set_defaults(func=_cmd_key)

    p = wsub.add_parser("add-log", help="trust a log: its origin and verifier key")
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--origin", required=True, help="the log's origin (first checkpoint line)")
    p.add_argument("--key", required=True, help="the log's verifier key (GET /v1/log/key)")
    p.set_defaults(func=_cmd_add_log)

    p = wsub.add_parser("serve", help="serve POST /add-checkpoint (C2SP tlog-witness)")
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9001, help="port to listen on (default 9001)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=_cmd_serve)


def normalise(args: argparse.Namespace) -> None:
    """--name defaults after parsing, so that `key` can tell a given name from the default."""
    if getattr(args, "witness_command", None) == "key":
        args.name_given = args.name is not None
        args.name = args.name or DEFAULT_NAME
