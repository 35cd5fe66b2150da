"""The long reliability run of docs/RELIABILITY.md: kill the server, restart the database, audit.

    .venv/bin/python scripts/torture.py [--backend sqlite|postgres|both] [--kills 20]
                                        [--clients 8] [--seconds N] [--pg-restarts 1]

For each backend: a real `temoin serve` process on a fresh database, `--clients` client threads
appending continuously over HTTP (single events to a few shared cases and to cases of their
own, batches across cases, evidence uploads with the events that cite them, personal data
that goes to the vault). Every request carries its own Idempotency-Key; a client that gets no
answer (the connection broke: outcome unknown) or a 503 sends the SAME request with the SAME
key again until it gets a definitive answer, which must then be exactly-once.

Meanwhile the server is killed with SIGKILL at random moments (`--kills` times, spread over
`--seconds`) and restarted on the same port; on PostgreSQL the database server itself is also
restarted (`--pg-restarts` times) under load while the service keeps running, and every error
answered during the outage must be a 503 problem with Retry-After.

The audit at the end reads the database directly (not through the service) and checks, with
its own RFC 9162 code: every acknowledged request's events are in the log exactly once, at the
index and with the leaf hash of its receipt; no entry that nobody asked for; indices dense
0..n-1; each case's case_seq contiguous and its `prev` chain intact; every stored interior node
and every checkpoint root equal to what the leaves imply; every stored Idempotency-Key answer
matches the log; every acknowledged evidence file registered and intact; then `temoin verify`
must exit 0. The script prints a summary and exits 1 on any loss, duplicate, gap or mismatch.

The tests (tests/test_crash.py, test_pg_restart.py, test_multi_server.py) use the same
Workload and audit with bounded parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEMOIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ORIGIN = "torture.example/log"
TENANT = "shop-torture"
# A fixed past time: the log must accept late arrivals, and a fixed value keeps the bodies of
# a retried request byte-identical (an Idempotency-Key replay needs the same body).
OCCURRED_AT = "2025-03-04T19:41:27Z"


# -- the database, without the product's code ------------------------------------------------

def raw_query(database_url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on the ledger's database, read behind the service's back."""
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url[len("sqlite:///"):], timeout=60)
        try:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]


@contextlib.contextmanager
def fresh_pg_database(admin_url: str = PG_ADMIN_URL, keep: bool = False) -> Iterator[str]:
    import psycopg

    name = f"temoin_torture_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_restart_command() -> list[str] | None:
    """The command that restarts the local PostgreSQL cluster, or None if we cannot run it."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


def restart_postgres(command: Sequence[str]) -> float:
    """Restart PostgreSQL (fast shutdown: sessions are cut); seconds until it accepts again."""
    started = time.monotonic()
    subprocess.run(list(command), check=True, capture_output=True, timeout=120)
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
                break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return time.monotonic() - started


# -- a `temoin serve` process ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(database_url: str, data_dir: Path, origin: str = ORIGIN,
                **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMOIN_")}
    env.update(TEMOIN_DATABASE_URL=database_url, TEMOIN_DATA_DIR=str(data_dir),
               TEMOIN_LOG_ORIGIN=origin, PYTHONPATH=str(ROOT), **extra)
    return env


class ServerProcess:
    """`temoin serve` on a fixed port, which `restart()` reuses after a kill."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.env = env
        self.log = log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scripts.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temoin serve exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"temoin serve did not answer: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, whatever was in flight is cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args], env=env, capture_output=True, text=True,
        timeout=600, cwd=ROOT,
    )


def admin_token(env: dict[str, str], tenant: str = TENANT) -> str:
    out = cli(env, "keys", "create", "--role", "admin", "--tenant", tenant, "--json")
    if out.returncode != 0:
        raise RuntimeError(f"temoin keys create failed: {out.stderr}")
    return str(json.loads(out.stdout)["token"])


# -- the clients -------------------------------------------------------------------------------

@dataclass
class Outcome:
    """One client request and what became of it. `tags` mark its events in the log."""

    key: str  # the Idempotency-Key (also the root of the tags)
    route: str  # "event" or "batch"
    cases: list[str]
    tags: list[str]
    expect_conflict: bool = False  # sent with an expected_seq that may lose a race
    status: int | None = None  # the definitive answer's status (None: never answered)
    receipts: list[dict[str, Any]] | None = None
    attempts: int = 0
    unknown: int = 0  # attempts whose outcome was unknown (connection cut, no answer)
    unavailable: int = 0  # 503 answers
    replay_checked: bool = False
    error: str | None = None

    @property
    def acked(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Stats:
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    bad_answers: list[str] = field(default_factory=list)  # 5xx that are not a proper 503
    uploads: list[tuple[str, int]] = field(default_factory=list)  # acknowledged (sha256, size)


def _problem_ok(resp: httpx.Response) -> str | None:
    """Why a 503 is not the contract's 503 (problem+json with Retry-After), or None."""
    if resp.headers.get("content-type") != "application/problem+json":
        return f"503 with content-type {resp.headers.get('content-type')!r}"
    if not resp.headers.get("retry-after", "").isdigit():
        return "503 without a Retry-After delay"
    return None


class Workload:
    """Client threads appending continuously through HTTP until `stop()`.

    `urls` are tried at random per attempt, so with several servers a retry may reach another
    process than the first attempt (the Idempotency-Key must hold across processes too).
    """

    def __init__(
        self,
        urls: Sequence[str],
        tokens: Sequence[str],
        shared_cases: Sequence[str],
        *,
        seed: int = 0,
        evidence: bool = True,
        request_deadline: float = 180.0,
        max_backoff: float = 0.3,
        on_ack: Callable[[], None] | None = None,
    ) -> None:
        self.urls = list(urls)
        self.tokens = list(tokens)
        self.shared_cases = list(shared_cases)
        self.seed = seed
        self.evidence = evidence
        self.request_deadline = request_deadline
        self.max_backoff = max_backoff
        self.on_ack = on_ack
        self.outcomes: list[Outcome] = []
        self.stats = Stats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.acked = 0

    # -- running --------------------------------------------------------------------------
    def open_shared_cases(self) -> None:
        with self._http(self.tokens[0]) as http:
            rng = random.Random(self.seed)
            for case in self.shared_cases:
                outcome = self._event(http, rng, case, "CaseOpened")
                if not outcome.acked:
                    raise RuntimeError(f"could not open {case}: {outcome.error}")

    def start(self) -> None:
        for n, token in enumerate(self.tokens):
            thread = threading.Thread(target=self._client, args=(n, token),
                                      name=f"torture-client-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 240) -> list[str]:
        """Let each client finish its request in flight; the names of clients that hung."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]

    def _http(self, token: str) -> httpx.Client:
        return httpx.Client(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30, connect=2),
        )

    def _client(self, n: int, token: str) -> None:
        rng = random.Random(self.seed * 1000 + n + 1)
        own: str | None = None
        with self._http(token) as http:
            while not self._stop.is_set():
                if own is None or rng.random() < 0.03:
                    case = f"T{n}-{uuid.uuid4().hex[:10]}"
                    if self._event(http, rng, case, "CaseOpened").acked:
                        own = case
                    continue
                choice = rng.random()
                if choice < 0.5:
                    self._event(http, rng, rng.choice(self.shared_cases), "OtpFailed")
                elif choice < 0.7:
                    self._event(http, rng, own, "OtpFailed")
                elif choice < 0.9:
                    pool = [*self.shared_cases, own]
                    cases = [rng.choice(pool) for _ in range(rng.randint(2, 5))]
                    self._batch(http, rng, cases)
                elif self.evidence:
                    self._photo(http, rng, own)

    # -- requests -------------------------------------------------------------------------
    @staticmethod
    def _body(type_: str, tag: str, rng: random.Random, sha256: str | None = None
              ) -> dict[str, Any]:
        personal: dict[str, str] = {}
        if type_ == "CaseOpened":
            data: dict[str, Any] = {"order_ref": tag, "merchant_id": "torture", "reason": "other"}
            if rng.random() < 0.5:
                personal = {"customer_email": f"{tag}@example.fr"}
        elif type_ == "DeliveryPhotoTaken":
            assert sha256 is not None
            data = {"parcel_id": tag, "carrier": "colissimo", "photo_sha256": sha256}
        else:
            data = {"challenge_id": tag, "channel": "sms", "attempt": rng.randint(1, 9),
                    "reason": "wrong_code"}
            if rng.random() < 0.3:
                personal = {"destination": "+33612345678"}
        evidence = [] if sha256 is None else [{"sha256": sha256, "role": "delivery_photo"}]
        return {"type": type_, "occurred_at": OCCURRED_AT, "data": data, "personal": personal,
                "evidence": evidence}

    def event(self, http: httpx.Client, rng: random.Random, case: str, type_: str = "OtpFailed",
              *, expected_seq: int | None = None, base: str | None = None) -> Outcome:
        """One event sent (and retried) like the clients do; `base` pins the server."""
        return self._event(http, rng, case, type_, expected_seq=expected_seq, base=base)

    def _event(self, http: httpx.Client, rng: random.Random, case: str, type_: str,
               sha256: str | None = None, expected_seq: int | None = None,
               base: str | None = None) -> Outcome:
        key = uuid.uuid4().hex
        body = self._body(type_, f"{key}.0", rng, sha256)
        if expected_seq is not None:
            body["expected_seq"] = expected_seq
        outcome = Outcome(key, "event", [case], [f"{key}.0"],
                          expect_conflict=expected_seq is not None)
        self._send(http, rng, f"/v1/cases/{case}/events", body, outcome, base)
        return outcome

    def _batch(self, http: httpx.Client, rng: random.Random, cases: list[str]) -> Outcome:
        key = uuid.uuid4().hex
        tags = [f"{key}.{i}" for i in range(len(cases))]
        events = [{"case": c, **self._body("OtpFailed", t, rng)} for c, t in zip(cases, tags,
                                                                                 strict=True)]
        outcome = Outcome(key, "batch", cases, tags)
        self._send(http, rng, "/v1/batches", {"events": events}, outcome)
        return outcome

    def _photo(self, http: httpx.Client, rng: random.Random, case: str) -> None:
        content = os.urandom(rng.randint(16, 4096))
        sha256 = hashlib.sha256(content).hexdigest()
        deadline = time.monotonic() + self.request_deadline
        while True:
            try:
                resp = http.post(self._url(rng, "/v1/evidence"), content=content,
                                 headers={"Content-Type": "image/jpeg"})
            except httpx.TransportError as exc:
                self._transport(exc)
                if time.monotonic() > deadline:
                    return
                time.sleep(rng.uniform(0.02, self.max_backoff))
                continue
            self._count(resp)
            if resp.status_code == 503 and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.02, self.max_backoff))
                continue
            if resp.status_code in (200, 201) and resp.json()["sha256"] == sha256:
                with self._lock:
                    self.stats.uploads.append((sha256, len(content)))
                break
            with self._lock:
                self.stats.bad_answers.append(f"upload: {resp.status_code} {resp.text[:200]}")
            return
        self._event(http, rng, case, "DeliveryPhotoTaken", sha256)

    def _url(self, rng: random.Random, path: str) -> str:
        return rng.choice(self.urls) + path

    def _transport(self, exc: httpx.TransportError) -> None:
        with self._lock:
            self.stats.transport_errors[type(exc).__name__] += 1

    def _count(self, resp: httpx.Response) -> None:
        with self._lock:
            self.stats.statuses[resp.status_code] += 1
            if resp.status_code >= 500:
                why = _problem_ok(resp) if resp.status_code == 503 else "not a 503"
                if why is not None:
                    self.stats.bad_answers.append(
                        f"{resp.request.method} {resp.request.url.path}: {resp.status_code} "
                        f"({why}) {resp.text[:300]}")

    def _send(self, http: httpx.Client, rng: random.Random, path: str, body: dict[str, Any],
              outcome: Outcome, base: str | None = None) -> None:
        """Send until a definitive answer: the same bytes with the same key every time."""
        raw = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": outcome.key}
        with self._lock:
            self.outcomes.append(outcome)
        deadline = time.monotonic() + self.request_deadline
        while True:
            outcome.attempts += 1
            try:
                resp = http.post((base or rng.choice(self.urls)) + path, content=raw,
                                 headers=headers)
            except httpx.TransportError as exc:
                # The request may or may not have been appended: only the same key may retry.
                outcome.unknown += 1
                self._transport(exc)
                if time.monotonic() > deadline:
                    outcome.error = f"no answer after {outcome.attempts} attempts: {exc!r}"
                    return
                time.sleep(rng.uniform(0.02, self.max_backoff))
                continue
            self._count(resp)
            if resp.status_code == 503 and time.monotonic() < deadline:
                outcome.unavailable += 1
                # Retry-After asks for up to 5 s; a test retries sooner to see the recovery.
                wait = float(resp.headers.get("retry-after", "1") or 1)
                time.sleep(min(wait, rng.uniform(0.05, self.max_backoff * 2)))
                continue
            outcome.status = resp.status_code
            if resp.status_code in (200, 201):
                payload = resp.json()
                outcome.receipts = payload.get("results", [payload])
                with self._lock:
                    self.acked += 1
                if self.on_ack is not None:
                    self.on_ack()
                if resp.status_code == 201 and rng.random() < 0.05:
                    self._check_replay(http, rng, path, raw, headers, resp, outcome)
            elif not (resp.status_code == 409 and outcome.expect_conflict):
                outcome.error = f"unexpected {resp.status_code}: {resp.text[:300]}"
            return

    def _check_replay(self, http: httpx.Client, rng: random.Random, path: str, raw: bytes,
                      headers: dict[str, str], first: httpx.Response, outcome: Outcome) -> None:
        """The same key and body again must replay the first answer (200), appending nothing."""
        for _ in range(50):
            try:
                again = http.post(self._url(rng, path), content=raw, headers=headers)
            except httpx.TransportError as exc:
                self._transport(exc)
                time.sleep(rng.uniform(0.02, self.max_backoff))
                continue
            self._count(again)
            if again.status_code == 503:
                time.sleep(rng.uniform(0.05, self.max_backoff))
                continue
            if again.status_code != 200 or again.json() != first.json():
                outcome.error = (f"replay answered {again.status_code} {again.text[:200]} "
                                 f"instead of 200 {first.text[:200]}")
            outcome.replay_checked = True
            return


# -- the audit ---------------------------------------------------------------------------------

def _leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class _Tree:
    """RFC 9162 tree built leaf by leaf: the complete subtrees it creates, and roots."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, int, bytes]] = []  # (level, index, hash), left to right
        self.nodes: dict[tuple[int, int], bytes] = {}

    def add(self, index: int, hash_: bytes) -> None:
        level, idx, h = 0, index, hash_
        while self.stack and self.stack[-1][0] == level:
            _, left_idx, left = self.stack.pop()
            level, idx, h = level + 1, left_idx // 2, _node(left, h)
            self.nodes[(level, idx)] = h
        self.stack.append((level, idx, h))

    def root(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        h = self.stack[-1][2]
        for _, _, left in reversed(self.stack[:-1]):
            h = _node(left, h)
        return h


def _tag(entry: dict[str, Any]) -> str | None:
    data = entry.get("data", {})
    for name in ("challenge_id", "order_ref", "parcel_id"):
        if name in data:
            return str(data[name])
    return None


def _receipts(response: str) -> list[dict[str, Any]]:
    payload = json.loads(response)
    receipts: list[dict[str, Any]] = payload.get("results", [payload])
    return receipts


@dataclass
class Audit:
    tree_size: int = 0
    acked_requests: int = 0
    acked_events: int = 0
    unanswered: int = 0
    refused: int = 0  # 409 answers to requests that raced on expected_seq
    replays_checked: int = 0
    retried_unknown: int = 0  # acknowledged after at least one attempt of unknown outcome
    committed_unknown: int = 0  # ... whose cut attempt had in fact committed (replayed: 200)
    retried_unavailable: int = 0  # acknowledged after at least one 503
    cases: int = 0
    checkpoints: int = 0
    nodes: int = 0
    idempotency_rows: int = 0
    evidence_files: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    verify_ok: bool | None = None
    verify_output: str = ""

    def failures(self) -> list[str]:
        found = self.lost + self.duplicates + self.gaps + self.mismatches
        if self.verify_ok is False:
            found.append(f"temoin verify failed: {self.verify_output[-1500:]}")
        return found

    def summary(self) -> str:
        verify = {None: "not run", True: "OK", False: "FAILED"}[self.verify_ok]
        return (
            f"{self.acked_requests:,} acknowledged requests ({self.acked_events:,} events), "
            f"{self.unanswered} never answered, {self.refused} refused (409 on expected_seq), "
            f"{self.replays_checked} replays checked; {self.retried_unknown} settled by a "
            f"retry after a cut connection ({self.committed_unknown} of them had committed: "
            f"replayed), {self.retried_unavailable} after a 503; log size {self.tree_size:,} in "
            f"{self.cases:,} cases, {self.nodes:,} interior nodes, {self.checkpoints:,} "
            f"checkpoints, {self.idempotency_rows:,} idempotency records, "
            f"{self.evidence_files} evidence files; lost {len(self.lost)}, duplicated "
            f"{len(self.duplicates)}, gaps {len(self.gaps)}, mismatches {len(self.mismatches)}; "
            f"temoin verify: {verify}"
        )


def audit(database_url: str, data_dir: Path, workload: Workload, *, tenant: str = TENANT,
          verify_env: dict[str, str] | None = None) -> Audit:
    """Compare what the clients were told with what the database holds (see the module doc)."""
    result = Audit()
    outcomes = list(workload.outcomes)
    leaves = raw_query(
        database_url,
        # Schema v4: a leaf's event is keyed by its entry, (log_id << 40) + idx.
        "SELECT l.idx, l.hash, e.state FROM cases_leaves l LEFT JOIN cases_events e "
        "ON e.entry = l.log_id * 1099511627776 + l.idx WHERE l.log_id = 1 ORDER BY l.idx",
    )
    result.tree_size = len(leaves)
    tree = _Tree()
    roots: dict[int, bytes] = {0: tree.root()}
    by_tag: dict[str, list[int]] = defaultdict(list)
    entries: dict[int, dict[str, Any]] = {}
    hashes: dict[int, bytes] = {}
    chains: dict[tuple[str, str], list[tuple[int, dict[str, Any], bytes]]] = defaultdict(list)
    for position, (idx, stored_hash, state) in enumerate(leaves):
        if idx != position:
            result.gaps.append(f"index {position}: the next stored leaf is {idx}")
            break
        stored = bytes(stored_hash)
        if state is None:
            result.mismatches.append(f"index {idx}: leaf without its entry")
            continue
        entry_bytes = bytes(state)
        if _leaf(entry_bytes) != stored:
            result.mismatches.append(f"index {idx}: entry does not hash to the stored leaf")
        entry = json.loads(entry_bytes)
        entries[idx], hashes[idx] = entry, stored
        tree.add(idx, stored)
        roots[idx + 1] = tree.root()
        tag = _tag(entry)
        if tag is not None:
            by_tag[tag].append(idx)
        chains[(entry["tenant"], entry["case"])].append((idx, entry, stored))
    result.cases = len(chains)

    # Every leaf of the log: asked for by a client, once.
    asked = {tag for o in outcomes for tag in o.tags}
    for tag, found in by_tag.items():
        if len(found) > 1:
            result.duplicates.append(f"request event {tag} appended {len(found)} times: {found}")
        if tag not in asked:
            result.mismatches.append(f"index {found[0]}: entry {tag} that no client sent")
    for idx, entry in entries.items():
        if _tag(entry) is None:
            result.mismatches.append(f"index {idx}: an entry without a tag")

    # Every acknowledged request: all of its events, at its receipts' places.
    for o in outcomes:
        if o.status is None:
            result.unanswered += 1
            result.lost.append(f"request {o.key} never got an answer: {o.error}")
            continue
        if o.replay_checked:
            result.replays_checked += 1
        if o.error is not None:
            result.mismatches.append(f"request {o.key}: {o.error}")
        if not o.acked:
            if o.status == 409 and o.expect_conflict:
                result.refused += 1
            for tag in o.tags:
                if by_tag.get(tag):
                    result.mismatches.append(f"refused request {o.key} left entry {tag}")
            continue
        result.acked_requests += 1
        result.acked_events += len(o.tags)
        if o.unknown:
            result.retried_unknown += 1
            result.committed_unknown += o.status == 200
        result.retried_unavailable += o.unavailable > 0
        assert o.receipts is not None
        if len(o.receipts) != len(o.tags):
            result.mismatches.append(f"request {o.key}: {len(o.receipts)} receipts for "
                                     f"{len(o.tags)} events")
            continue
        for tag, case, receipt in zip(o.tags, o.cases, o.receipts, strict=True):
            found = by_tag.get(tag, [])
            if not found:
                result.lost.append(f"acknowledged event {tag} (receipt index "
                                   f"{receipt['index']}) is not in the log")
                continue
            idx = receipt["index"]
            entry = entries.get(idx)
            if entry is None or _tag(entry) != tag:
                result.mismatches.append(f"receipt of {tag} names index {idx}, which holds "
                                         f"{None if entry is None else _tag(entry)}")
            elif (hashes[idx].hex() != receipt["leaf_hash"] or entry["case"] != case
                  or receipt["case"] != case or entry["case_seq"] != receipt["case_seq"]):
                result.mismatches.append(f"index {idx}: receipt {receipt} differs from the log")

    # Each case: case_seq 1..k in index order, each `prev` the case's previous leaf hash.
    for (case_tenant, case), chain in chains.items():
        previous: bytes | None = None
        for seq, (idx, entry, stored) in enumerate(chain, start=1):
            if entry["case_seq"] != seq:
                result.gaps.append(f"case {case_tenant}/{case}: index {idx} has case_seq "
                                   f"{entry['case_seq']}, expected {seq}")
                break
            if entry["prev"] != (None if previous is None else previous.hex()):
                result.mismatches.append(f"case {case}: index {idx} breaks the prev chain")
            previous = stored

    # Stored interior nodes and checkpoints against the tree the leaves imply.
    from ledger.store.migrations.v2 import node_of_key

    nodes = raw_query(database_url, "SELECT key, hash FROM cases_nodes")
    result.nodes = len(nodes)
    stored_nodes = {node_of_key(int(key)): bytes(h) for key, h in nodes}
    if set(stored_nodes) != set(tree.nodes):
        extra = sorted(set(stored_nodes) - set(tree.nodes))[:5]
        missing = sorted(set(tree.nodes) - set(stored_nodes))[:5]
        result.mismatches.append(f"stored nodes differ: extra {extra}, missing {missing}")
    bad = [k for k, h in stored_nodes.items() if tree.nodes.get(k, h) != h]
    result.mismatches += [f"node {level}/{idx}: stored hash differs" for level, idx in bad[:20]]
    for size, root in raw_query(database_url, "SELECT size, root FROM cases_checkpoints"):
        result.checkpoints += 1
        if size not in roots:
            result.mismatches.append(f"checkpoint size {size} is beyond the log")
        elif roots[size] != bytes(root):
            result.mismatches.append(f"checkpoint size {size}: root differs from the leaves")

    # Stored Idempotency-Key answers: each matches the log; each acknowledged key has one.
    rows = raw_query(database_url, "SELECT key, response FROM idempotency WHERE tenant = ?",
                     (tenant,))
    result.idempotency_rows = len(rows)
    stored_answers = {key: _receipts(response) for key, response in rows}
    for key, receipts in stored_answers.items():
        for r in receipts:
            if r["index"] >= len(leaves) or hashes.get(r["index"], b"").hex() != r["leaf_hash"]:
                result.mismatches.append(f"idempotency record {key} names {r}, not in the log")
    for o in outcomes:
        if o.acked and o.receipts is not None and stored_answers.get(o.key) != o.receipts:
            result.mismatches.append(f"request {o.key}: stored answer differs from the one sent")

    # Evidence files acknowledged: registered and intact.
    registered = {sha for (sha,) in raw_query(
        database_url, "SELECT sha256 FROM evidence WHERE tenant = ?", (tenant,))}
    for sha256, size in workload.stats.uploads:
        result.evidence_files += 1
        path = data_dir / "evidence" / sha256
        if sha256 not in registered:
            result.lost.append(f"evidence {sha256}: acknowledged but not registered")
        elif not path.is_file() or path.stat().st_size != size or \
                hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            result.lost.append(f"evidence {sha256}: acknowledged but missing or altered")

    if verify_env is not None:
        out = cli(verify_env, "verify")
        result.verify_ok = out.returncode == 0
        result.verify_output = out.stdout + out.stderr
    return result


# -- the long run ------------------------------------------------------------------------------

@dataclass
class RunReport:
    backend: str
    seconds: float = 0.0
    kills: int = 0
    restarts: int = 0
    pg_restarts: int = 0
    pg_outage_seconds: list[float] = field(default_factory=list)
    outage_answers: Counter[int] = field(default_factory=Counter)
    audit: Audit | None = None
    stats: Stats | None = None
    hung: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        found = list(self.errors)
        found += [f"client hung: {name}" for name in self.hung]
        if self.stats is not None:
            found += [f"bad answer: {b}" for b in self.stats.bad_answers]
        if self.audit is not None:
            found += self.audit.failures()
        return found


def wait_for_acks(workload: Workload, count: int, timeout: float) -> bool:
    """Wait until `count` more requests were acknowledged (the load goes on)."""
    target = workload.acked + count
    deadline = time.monotonic() + timeout
    while workload.acked < target:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def run_backend(backend: str, *, kills: int, clients: int, seconds: float, pg_restarts: int,
                seed: int, keep: bool, work_dir: Path) -> RunReport:
    report = RunReport(backend)
    rng = random.Random(seed)
    directory = Path(tempfile.mkdtemp(prefix=f"torture-{backend}-", dir=work_dir))
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{directory / 'temoin.db'}"
        else:
            url = stack.enter_context(fresh_pg_database(keep=keep))
        data_dir = directory / "data"
        env = service_env(url, data_dir)
        server = ServerProcess(env, directory / "serve.log")
        server.start()
        stack.callback(server.stop)
        token = admin_token(env)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as admin:
            tokens = [admin.post("/v1/keys", json={"role": "appender"}).json()["token"]
                      for _ in range(clients)]
        shared = [f"SHARED-{i}" for i in range(4)]
        workload = Workload([server.url], tokens, shared, seed=seed)
        workload.open_shared_cases()
        workload.start()
        started = time.monotonic()
        restart_pg = pg_restart_command() if backend == "postgres" and pg_restarts else None
        if backend == "postgres" and pg_restarts and restart_pg is None:
            report.errors.append("cannot restart PostgreSQL here (needs root and pg_ctlcluster)")
        # The PostgreSQL restarts fall between kills, evenly spread.
        pg_at = {int((i + 1) * kills / (pg_restarts + 1)) for i in range(pg_restarts)}
        gap = seconds / max(1, kills + len(pg_at))
        for k in range(kills):
            if not wait_for_acks(workload, 20, 120):
                report.errors.append(f"no progress before kill {k + 1}")
            time.sleep(rng.uniform(0.2, max(0.3, 2 * gap - 0.2)) if gap > 0.3 else 0)
            server.kill()
            report.kills += 1
            time.sleep(rng.uniform(0, 0.5))  # sometimes back at once, sometimes after a while
            server.start()
            report.restarts += 1
            print(f"[{backend}] kill {report.kills}/{kills}: restarted; "
                  f"{workload.acked:,} requests acknowledged so far", flush=True)
            if k in pg_at and restart_pg is not None:
                wait_for_acks(workload, 20, 120)
                before = Counter(workload.stats.statuses)
                outage = restart_postgres(restart_pg)
                wait_for_acks(workload, 50, 120)  # the service recovers by itself
                report.pg_restarts += 1
                report.pg_outage_seconds.append(outage)
                report.outage_answers += Counter(workload.stats.statuses) - before
                print(f"[{backend}] PostgreSQL restarted ({outage:.1f} s); answers meanwhile: "
                      f"{dict(Counter(workload.stats.statuses) - before)}", flush=True)
        remaining = seconds - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        report.hung = workload.stop()
        report.seconds = time.monotonic() - started
        server.stop()
        report.stats = workload.stats
        report.audit = audit(url, data_dir, workload, verify_env=env)
        log = server.log.read_text(errors="replace")
        if "Traceback" in log and "unhandled error" in log:
            report.errors.append("the server log has an unhandled error (see serve.log)")
    if keep or report.failures():  # the server logs are what explains a failure
        print(f"[{backend}] logs and data kept in {directory}", flush=True)
    else:
        shutil.rmtree(directory, ignore_errors=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per backend")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--seconds", type=float, default=120,
                        help="at least this long per backend (kills are spread over it)")
    parser.add_argument("--pg-restarts", type=int, default=1,
                        help="PostgreSQL restarts under load (postgres backend)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"torture: seed {args.seed}, {args.kills} kills, {args.clients} clients, "
          f"{args.seconds:.0f} s per backend", flush=True)
    failed = False
    for backend in backends:
        report = run_backend(backend, kills=args.kills, clients=args.clients,
                             seconds=args.seconds, pg_restarts=args.pg_restarts,
                             seed=args.seed, keep=args.keep, work_dir=args.work_dir)
        stats = report.stats or Stats()
        print(f"\n== {backend}: {report.seconds:.0f} s, {report.kills} kills, "
              f"{report.restarts} restarts, {report.pg_restarts} PostgreSQL restarts "
              f"{[round(s, 1) for s in report.pg_outage_seconds]}")
        print(f"   answers: {dict(sorted(stats.statuses.items()))}; "
              f"connection errors (outcome unknown, retried): {dict(stats.transport_errors)}")
        if report.pg_restarts:
            print(f"   answers around the PostgreSQL restarts: {dict(report.outage_answers)}")
        if report.audit is not None:
            print(f"   audit: {report.audit.summary()}")
        failures = report.failures()
        for failure in failures[:50]:
            print(f"   FAILURE: {failure}")
        print(f"   result: {'FAILED' if failures else 'OK: nothing lost, nothing duplicated'}")
        failed = failed or bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
