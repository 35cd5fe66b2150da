"""Getting each new checkpoint cosigned by the configured C2SP witnesses (issue 11).

`TEMOIN_WITNESSES` lists `URL VKEY` pairs; for each log (the case log, the access journal) and
each witness, one asyncio task submits the latest checkpoint with `POST <url>/add-checkpoint`
(C2SP tlog-witness): `old N`, the consistency proof from N, a blank line, the signed note. N is
the size the witness last cosigned as far as we know; we start from 0 and a 409
`text/x.tlog.size` answer tells the witness's real size, from which we resend at once. The
returned `cosignature/v1` line is verified with the configured key and stored in the log's
attestations table; `GET /v1/log/checkpoint` then serves it under the log's own signature.

Appends never wait for this: the tasks only read the store. A witness that is down or refuses
is logged with its reason, retried with exponential backoff, and counted in /metrics and
/healthz; it matters only in that checkpoints it does not cosign may miss the quorum
(`TEMOIN_WITNESS_QUORUM`, default 0), which decides the "witnessed size" reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from anyio import to_thread

from api.background import cancel
from api.metrics import _escape, _number
from ledger.config import ConfigError
from ledger.cosignature import CosignatureError, CosignatureVerifier, add_checkpoint_body
from ledger.errors import UnavailableError
from ledger.merkle import consistency_plan
from ledger.signing import CheckpointError
from ledger.store.attestations import Attestation
from ledger.store.base import StoredCheckpoint
from ledger.store.protocols import AttestationReader, AttestedLog

log = logging.getLogger("temoin.witnessing")

SIZE_MEDIA_TYPE = "text/x.tlog.size"
# A witness answer is one or a few signature lines; anything longer is not a witness.
MAX_ANSWER = 64 * 1024
# How often a task looks for a new checkpoint when nothing woke it (appends by other processes).
POLL_SECONDS = 1.0
# Resending from the witness's size after a 409 is normal once; more in a row means the size
# keeps moving (another submitter) or the witness is confused: back off then.
MAX_RESENDS = 3


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    url: str  # the submission prefix, without a trailing slash
    verifier: CosignatureVerifier

    @property
    def name(self) -> str:
        return self.verifier.name


@dataclass(frozen=True, slots=True)
class WitnessSettings:
    witnesses: tuple[WitnessConfig, ...] = ()
    quorum: int = 0
    timeout: float = 10.0
    max_backoff: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WitnessSettings:
        env = os.environ if environ is None else environ
        witnesses = parse_witnesses(env.get("TEMOIN_WITNESSES", ""))
        quorum = _number_setting(env, "TEMOIN_WITNESS_QUORUM", "0", integer=True)
        if quorum > len(witnesses):
            raise ConfigError(
                f"TEMOIN_WITNESS_QUORUM is {int(quorum)} but TEMOIN_WITNESSES lists only "
                f"{len(witnesses)} witness(es): no checkpoint could ever be witnessed; lower "
                "the quorum or add witnesses"
            )
        return cls(
            witnesses=tuple(witnesses), quorum=int(quorum),
            timeout=_number_setting(env, "TEMOIN_WITNESS_TIMEOUT", "10"),
            max_backoff=_number_setting(env, "TEMOIN_WITNESS_MAX_BACKOFF", "30"),
        )


def _number_setting(env: Mapping[str, str], name: str, default: str, *,
                    integer: bool = False) -> float:
    text = env.get(name, default).strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number of seconds"
        raise ConfigError(f"{name} must be {kind} >= 0, got {text[:40]!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise ConfigError(f"{name} must be >= 0 and finite, got {text[:40]!r}")
    return value


def parse_witnesses(text: str) -> list[WitnessConfig]:
    """`URL VKEY URL VKEY ...` (any whitespace) -> the witnesses; ConfigError names the bad one."""
    words = text.split()
    if len(words) % 2:
        raise ConfigError(
            f"TEMOIN_WITNESSES must be pairs 'URL VKEY' separated by whitespace, got "
            f"{len(words)} words; the last one ({words[-1][:60]!r}) has no partner"
        )
    found: list[WitnessConfig] = []
    for i in range(0, len(words), 2):
        url, vkey = words[i], words[i + 1]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"TEMOIN_WITNESSES pair {i // 2 + 1}: expected an http(s) URL first, got "
                f"{url[:80]!r} (e.g. http://127.0.0.1:9001)"
            )
        try:
            verifier = CosignatureVerifier.parse(vkey)
        except CheckpointError as exc:
            raise ConfigError(f"TEMOIN_WITNESSES pair {i // 2 + 1} ({url}): {exc}") from None
        if any(w.name == verifier.name for w in found):
            raise ConfigError(
                f"TEMOIN_WITNESSES names witness {verifier.name!r} twice: cosignatures are "
                "stored by witness name, so each witness must have its own name"
            )
        found.append(WitnessConfig(url.rstrip("/"), verifier))
    return found


@dataclass
class WitnessStatus:
    """What /healthz and /metrics say about one witness of one log."""

    name: str
    url: str
    cosigned_size: int | None = None  # the latest size it cosigned for us
    cosignatures: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # by reason class
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    last_success_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url, "ok": self.consecutive_failures == 0,
            "cosigned_size": self.cosigned_size, "cosignatures": self.cosignatures,
            "failures": sum(self.failures.values()),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error, "last_error_at": self.last_error_at,
            "last_success_at": self.last_success_at,
        }


class _Failure(UnavailableError):
    """A witness gave no usable cosignature this time; the next checkpoint tries again."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # a bounded label: unreachable, http_403, bad_cosignature...


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogWitnessing:
    """The witnessing of one log: a task per witness, all fed the log's latest checkpoint."""

    def __init__(
        self, label: str, store: AttestedLog, settings: WitnessSettings, *,
        sign: Callable[[], StoredCheckpoint] | None = None,
    ) -> None:
        # "log" or "access" (log 1), "log-N" or "access-N" (log N): a metrics label, never
        # tenant data.
        self.label = label
        self.store = store
        self.settings = settings
        # The access journal has no checkpointer of its own: its witnessing signs it when grown.
        self.sign = sign
        self._sign_lock = threading.Lock()
        self._signed_at = float("-inf")
        self.status = {w.name: WitnessStatus(w.name, w.url) for w in settings.witnesses}
        self.witnessed_size: int | None = None
        self.latest_size: int | None = None  # the newest checkpoint seen (quorum 0 = witnessed)
        self._cosigners: dict[int, set[str]] = {}  # recent sizes -> witnesses that cosigned
        # Each witness's size as far as we know: 0 at start, corrected by its 409 answers.
        self._known = {w.name: 0 for w in settings.witnesses}
        self._wake: list[asyncio.Event] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(timeout=self.settings.timeout)
        latest = await to_thread.run_sync(self.store.latest_checkpoint)
        if latest is not None:
            self.latest_size = latest.size
            seen = await to_thread.run_sync(self.store.attestations, latest.size, "cosignature")
            for att in seen:
                self._cosigned(att.signer, latest.size)
        for witness in self.settings.witnesses:
            wake = asyncio.Event()
            wake.set()
            self._wake.append(wake)
            self._tasks.append(asyncio.create_task(
                self._run(witness, wake), name=f"temoin-witness-{self.label}-{witness.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel(task)
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def notify(self) -> None:
        """A checkpoint was signed (callable from any thread): submit it now."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for wake in self._wake:
            loop.call_soon_threadsafe(wake.set)

    # -- quorum ------------------------------------------------------------------------------
    def _cosigned(self, name: str, size: int) -> None:
        status = self.status.get(name)
        if status is None:  # stored by a witness no longer configured: not in the quorum
            return
        status.cosigned_size = max(size, status.cosigned_size or 0)
        self._cosigners.setdefault(size, set()).add(name)
        if len(self._cosigners[size]) >= self.settings.quorum:
            self.witnessed_size = max(size, self.witnessed_size or 0)
        # Sizes below the witnessed one can no longer change the answer.
        floor = self.witnessed_size or 0
        for old in [s for s in self._cosigners if s < floor]:
            del self._cosigners[old]
        while len(self._cosigners) > 256:
            del self._cosigners[min(self._cosigners)]

    def witnessed(self) -> int | None:
        """The largest checkpoint size cosigned by at least the quorum of witnesses."""
        if self.settings.quorum == 0:
            return self.latest_size
        return self.witnessed_size

    # -- one witness ---------------------------------------------------------------------------
    async def _run(self, witness: WitnessConfig, wake: asyncio.Event) -> None:
        backoff = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
            wake.clear()
            try:
                self._known[witness.name] = await self._submit_latest(witness)
            except _Failure as failure:
                self._failed(witness, failure)
                backoff = min(self.settings.max_backoff, max(1.0, backoff * 2))
                await asyncio.sleep(backoff)
                wake.set()  # retry at once after the pause, new checkpoint or not
                continue
            except Exception as exc:  # the database may be down: say so, keep going
                self._failed(witness, _Failure("internal", f"{type(exc).__name__}: {exc}"))
                backoff = min(self.settings.max_backoff, max(1.0, backoff * 2))
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0

    def _latest(self) -> StoredCheckpoint | None:
        latest: StoredCheckpoint | None
        with self._sign_lock:
            # One signature a second at most, however many witness tasks ask.
            if self.sign is not None and time.monotonic() - self._signed_at >= POLL_SECONDS:
                latest = self.sign()
                self._signed_at = time.monotonic()
            else:
                latest = self.store.latest_checkpoint()
        if latest is not None:
            self.latest_size = max(latest.size, self.latest_size or 0)
        return latest

    async def _submit_latest(self, witness: WitnessConfig) -> int:
        known = self._known[witness.name]
        checkpoint = await to_thread.run_sync(self._latest)
        if checkpoint is None:
            return known
        if self.status[witness.name].cosigned_size == checkpoint.size:
            return known
        done = await to_thread.run_sync(self._has_cosignature, checkpoint.size, witness.name)
        if done:
            self._cosigned(witness.name, checkpoint.size)
            return max(known, checkpoint.size)
        for _ in range(MAX_RESENDS):
            if known > checkpoint.size:
                # The witness cosigned a larger size than our latest checkpoint: another server
                # process of this log submitted a newer one (it resolves at the next round), or
                # this log's database was rolled back (it never does: a witness is for that).
                raise _Failure("witness_ahead", f"the witness cosigned size {known}, beyond our "
                                                f"latest checkpoint ({checkpoint.size})")
            body = await to_thread.run_sync(self._body, known, checkpoint)
            answer = await self._post(witness, body)
            if answer.status_code == 409 and answer.headers.get(
                    "content-type", "").startswith(SIZE_MEDIA_TYPE):
                size = _witness_size(answer.content)
                log.info("witness %s is at size %d of %s (we sent old %d): resending",
                         witness.name, size, self.label, known)
                known = self._known[witness.name] = size
                continue
            if answer.status_code != 200:
                detail = answer.text[:300].replace("\n", " ")
                raise _Failure(f"http_{answer.status_code}",
                               f"witness answered {answer.status_code}: {detail}")
            line = self._cosignature(witness, answer.content, checkpoint)
            await to_thread.run_sync(self.store.store_attestation, Attestation(
                checkpoint.size, "cosignature", witness.name, line.encode("utf-8"),
                _now_text()))
            # In-memory state is only touched on the event loop (health() reads it there).
            self._stored(witness.name, checkpoint.size)
            return checkpoint.size
        raise _Failure("conflict", f"the witness's size kept changing over {MAX_RESENDS} "
                                   f"resends (last {known}); another submitter?")

    def _has_cosignature(self, size: int, name: str) -> bool:
        return any(a.signer == name for a in self.store.attestations(size, "cosignature"))

    def _body(self, known: int, checkpoint: StoredCheckpoint) -> bytes:
        proof: list[bytes] = []
        if 0 < known < checkpoint.size:
            proof = self.store.proof(consistency_plan(known, checkpoint.size))
        return add_checkpoint_body(known, proof, checkpoint.note)

    async def _post(self, witness: WitnessConfig, body: bytes) -> httpx.Response:
        assert self._client is not None
        try:
            async with self._client.stream(
                "POST", f"{witness.url}/add-checkpoint", content=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            ) as response:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER:
                        raise _Failure("bad_answer", f"answer longer than {MAX_ANSWER} bytes")
                return httpx.Response(response.status_code, headers=response.headers,
                                      content=bytes(data))
        except httpx.HTTPError as exc:
            raise _Failure("unreachable", f"{type(exc).__name__}: {exc or 'no detail'}") from None

    def _cosignature(self, witness: WitnessConfig, content: bytes,
                     checkpoint: StoredCheckpoint) -> str:
        """Our witness's valid line among those returned (lines by other keys are ignored)."""
        body = checkpoint.note[: checkpoint.note.rfind(b"\n\n") + 1]
        try:
            lines = content.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise _Failure("bad_answer", "the answer is not UTF-8 signature lines") from None
        problems: list[str] = []
        for line in lines:
            try:
                witness.verifier.verify(line, body)
            except CosignatureError as exc:
                problems.append(str(exc))
                continue
            return line + "\n"
        raise _Failure("bad_cosignature",
                       "no valid cosignature by the configured key in the answer: "
                       + ("; ".join(problems)[:400] or "empty answer"))

    def _stored(self, name: str, size: int) -> None:
        status = self.status[name]
        status.cosignatures += 1
        status.consecutive_failures = 0
        status.last_success_at = _now_text()
        self._cosigned(name, size)

    def _failed(self, witness: WitnessConfig, failure: _Failure) -> None:
        status = self.status[witness.name]
        status.failures[failure.reason] = status.failures.get(failure.reason, 0) + 1
        status.consecutive_failures += 1
        status.last_error = f"{failure.reason}: {failure}"
        status.last_error_at = _now_text()
        below = len([s for s in self.status.values() if s.consecutive_failures == 0])
        level = logging.ERROR if below < self.settings.quorum else logging.WARNING
        log.log(level, "witness %s (%s) failed for the %s: %s; retrying with backoff "
                "(%d in a row)", witness.name, witness.url, self.label, status.last_error,
                status.consecutive_failures)

    def health(self) -> dict[str, Any]:
        return {
            "quorum": self.settings.quorum,
            "witnessed_size": self.witnessed(),
            "witnesses": {name: s.to_json() for name, s in self.status.items()},
        }


def _witness_size(content: bytes) -> int:
    text = content.decode("ascii", "replace")
    if not text.endswith("\n") or not text[:-1].isdigit() or len(text) > 21:
        raise _Failure("bad_answer", f"409 {SIZE_MEDIA_TYPE} body must be a decimal size and a "
                                     f"newline, got {text[:40]!r}")
    return int(text[:-1])


class Witnessing:
    """Every log's witnessing, for the app's lifespan, /healthz and /metrics."""

    def __init__(self, settings: WitnessSettings) -> None:
        self.settings = settings
        self.logs: dict[str, LogWitnessing] = {}
        self._started = False

    def add(self, label: str, store: AttestedLog,
            sign: Callable[[], StoredCheckpoint] | None = None) -> LogWitnessing:
        self.logs[label] = LogWitnessing(label, store, self.settings, sign=sign)
        return self.logs[label]

    async def add_started(self, label: str, store: AttestedLog,
                          sign: Callable[[], StoredCheckpoint] | None = None) -> None:
        """Add a log after `start` (every log but 1 is started after it): its tasks
        start at once. The witnesses must know that log (its origin and verifier key), as
        they know log 1's; one that does not refuses it, which shows per log in /healthz."""
        if label in self.logs:
            return
        one = self.add(label, store, sign)
        if self._started:
            await one.start()

    async def start(self) -> None:
        if not self.settings.witnesses:
            return
        self._started = True
        for one in list(self.logs.values()):
            await one.start()

    async def stop(self) -> None:
        self._started = False
        for one in list(self.logs.values()):
            await one.stop()

    def notify(self, label: str) -> None:
        if label in self.logs:
            self.logs[label].notify()

    def health(self) -> dict[str, Any]:
        return {label: one.health() for label, one in self.logs.items()}

    def render_metrics(self) -> list[str]:
        """Prometheus lines: per log and witness (labels: log kind, witness name, reason)."""
        if not self.settings.witnesses:
            return []
        out = [
            "# HELP temoin_witnessed_size Largest checkpoint size cosigned by the quorum",
            "# TYPE temoin_witnessed_size gauge",
        ]
        for label, one in self.logs.items():
            size = one.witnessed()
            if size is not None:
                out.append(f'temoin_witnessed_size{{log="{label}"}} {size}')
        series: dict[str, list[str]] = {
            "temoin_witness_cosignatures_total": [
                "# HELP temoin_witness_cosignatures_total Cosignatures received and stored",
                "# TYPE temoin_witness_cosignatures_total counter"],
            "temoin_witness_failures_total": [
                "# HELP temoin_witness_failures_total Failed submissions, by reason",
                "# TYPE temoin_witness_failures_total counter"],
            "temoin_witness_up": [
                "# HELP temoin_witness_up 1 if the last submission to the witness succeeded",
                "# TYPE temoin_witness_up gauge"],
            "temoin_witness_cosigned_size": [
                "# HELP temoin_witness_cosigned_size Latest checkpoint size the witness cosigned",
                "# TYPE temoin_witness_cosigned_size gauge"],
        }
        for label, one in self.logs.items():
            for name, s in one.status.items():
                base = f'log="{label}",witness="{_escape(name)}"'
                series["temoin_witness_cosignatures_total"].append(
                    f"temoin_witness_cosignatures_total{{{base}}} {s.cosignatures}")
                for reason, count in sorted(s.failures.items()):
                    series["temoin_witness_failures_total"].append(
                        f'temoin_witness_failures_total{{{base},reason="{reason}"}} {count}')
                series["temoin_witness_up"].append(
                    f"temoin_witness_up{{{base}}} {int(s.consecutive_failures == 0)}")
                if s.cosigned_size is not None:
                    series["temoin_witness_cosigned_size"].append(
                        f"temoin_witness_cosigned_size{{{base}}} {_number(s.cosigned_size)}")
        for lines in series.values():
            out += lines
        return out


def cosigned_note(store: AttestationReader, checkpoint: StoredCheckpoint) -> bytes:
    """The checkpoint note with every stored witness cosignature appended after the log's line
    (readers that only know the log key, like Go's note.Open, ignore the extra lines)."""
    lines = [a.body if a.body.endswith(b"\n") else a.body + b"\n"
             for a in store.attestations(checkpoint.size, "cosignature")]
    return checkpoint.note + b"".join(lines)
