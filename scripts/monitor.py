"""`temoin monitor URL --key VKEY --state DIR [--once] [--interval S]`: the HTTP half.

Fetches `GET /v1/log/checkpoint` and, when the log grew, `GET /v1/log/proofs/consistency`; the
verification itself is ledger/monitor.py. Exit status: 0 consistent, 1 alarm (fork, rollback,
bad signature, or the server itself reports a fork), 2 bad configuration (key, URL that is not
a Témoin log, token refused), 3 network error with --once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

from ledger.checkpoint import CheckpointError
from ledger.errors import StoreError, UnavailableError
from ledger.monitor import MonitorConfigError, MonitorState, judge
from ledger.signing import Verifier

EXIT_ALARM = 1
EXIT_CONFIG = 2
EXIT_NETWORK = 3


class NetworkError(UnavailableError):
    """The log could not be reached or answered 5xx: retry later."""


class ServerFork(StoreError):
    """The server answered 503 log-fork: it says itself that its log forked."""


class Remote:
    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, **params: int) -> httpx.Response:
        try:
            response = self.client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise NetworkError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 503 and "log-fork" in response.text[:300]:
            try:
                detail = str(response.json().get("detail"))
            except ValueError:
                detail = response.text[:500]
            raise ServerFork(detail)
        if response.status_code >= 500:
            raise NetworkError(f"{self.url}{path}: HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise MonitorConfigError(
                f"{self.url}{path}: HTTP {response.status_code}: the token was refused; pass a "
                "valid one with --token or TEMOIN_TOKEN"
            )
        if response.status_code != 200:
            raise MonitorConfigError(
                f"{self.url}{path}: HTTP {response.status_code}; is {self.url} a Témoin server "
                "(base URL, without /v1)?"
            )
        return response

    def checkpoint(self) -> bytes:
        response = self._get("/v1/log/checkpoint")
        if not response.headers.get("content-type", "").startswith("text/plain"):
            raise MonitorConfigError(
                f"{self.url}/v1/log/checkpoint: expected a signed note (text/plain), found "
                f"{response.headers.get('content-type', 'no content type')}; is {self.url} a "
                "Témoin server?"
            )
        return response.content

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self._get("/v1/log/proofs/consistency", **{"from": first, "to": second}).json()
        try:
            return [bytes.fromhex(h) for h in body["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed consistency proof from the server: {exc!r}") from None


def check_once(remote: Remote, state: MonitorState) -> int:
    """One round: 0 if consistent, EXIT_ALARM on an alarm (printed). Raises NetworkError."""
    seen = state.load()
    try:
        note = remote.checkpoint()
    except ServerFork as exc:
        last = f"last seen size {seen.size} root {seen.root.hex()}" if seen else "nothing seen"
        print(f"ALARM the server reports a fork ({last}): {exc}", flush=True)
        return EXIT_ALARM
    verdict = judge(seen, note, state.verifier, remote.consistency)
    if verdict.alarm:
        evidence = state.keep_evidence(verdict)
        kept = f" (served note kept in {evidence})" if evidence else ""
        print(verdict.line + kept, flush=True)
        return EXIT_ALARM
    if verdict.grew:
        state.save(verdict.note)
        print(verdict.line, flush=True)
    return 0


def run(url: str, vkey: str, state_dir: Path, *, once: bool, interval: float,
        token: str | None) -> int:
    try:
        verifier = Verifier.parse(vkey)
    except CheckpointError as exc:
        print(f"temoin monitor: --key: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not url.startswith(("http://", "https://")):
        print(f"temoin monitor: URL must start with http:// or https://, got {url!r}",
              file=sys.stderr)
        return EXIT_CONFIG
    remote = Remote(url, token)
    try:
        state = MonitorState(state_dir, verifier)
        while True:
            try:
                status = check_once(remote, state)
            except NetworkError as exc:
                print(f"temoin monitor: cannot reach the log: {exc}", file=sys.stderr, flush=True)
                if once:
                    return EXIT_NETWORK
                status = 0
            if once or status:
                return status
            time.sleep(interval)
    except MonitorConfigError as exc:
        print(f"temoin monitor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        remote.close()


def add_monitor_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "monitor",
        help="follow a remote Témoin log; alarm on any fork or rollback",
        description="Fetch the log's checkpoint, verify it with --key and its consistency with "
                    "the last one seen (kept in --state); exit 0 consistent, 1 alarm, 2 bad "
                    "configuration, 3 network error (--once).",
    )
    p.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--key", required=True, help="the log's verifier key (name+id+base64)")
    p.add_argument("--state", required=True, type=Path,
                   help="folder where the last checkpoint seen is kept")
    p.add_argument("--once", action="store_true", help="check once and exit (for cron)")
    p.add_argument("--interval", type=float, default=60.0,
                   help="seconds between checks (default 60)")
    p.add_argument("--token", help="bearer token (default: $TEMOIN_TOKEN)")
    p.set_defaults(func=_cmd_monitor)


def _cmd_monitor(args: argparse.Namespace) -> int:
    return run(args.url, args.key, args.state, once=args.once, interval=args.interval,
               token=args.token or os.environ.get("TEMOIN_TOKEN"))

