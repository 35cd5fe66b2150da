"""Getting RFC 3161 time-stamps on every signed checkpoint of every log, in the background.

Nothing outside the operator says *when* a checkpoint existed; a token from a Time-Stamp
Authority does ("this note existed no later than genTime, according to this TSA"). One asyncio
task per TSA (`TEMOIN_TSA_URLS`) asks the stores of the case log and the access journal of each
log the server has started (log 1's at start-up, another log's when it starts, `add`) which
checkpoints it has not stamped yet (newest first, a small batch per round), requests a token over
SHA-256 of each whole signed note, checks it (ledger/timestamps.py) and keeps it in the log's
attestations table. Appends never wait for any of this: a TSA that is slow, down or lying only
delays its own tokens. A failing TSA is retried with exponential backoff (capped), and shows in
`/metrics` and `/healthz`, which stays 200: a missing time-stamp is late evidence, not an outage.

With several server processes on one database each asks for its own tokens; the table keeps the
first per (size, TSA) and ignores the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from anyio import to_thread

from api.background import cancel
from api.checkpointer import signed_at
from api.metrics import Counter, LabelledGauge, Metrics
from ledger.config import ConfigError, positive_seconds
from ledger.store.attestations import Attestation
from ledger.store.base import StoredCheckpoint
from ledger.store.protocols import AttestedLog
from ledger.timestamps import (
    QUERY_MEDIA_TYPE,
    REPLY_MEDIA_TYPE,
    TimestampError,
    build_request,
    load_roots,
    verify_token,
)

log = logging.getLogger("temoin.timestamper")

KIND = "rfc3161"


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"TEMOIN_TSA_URLS: each TSA must be an http:// or https:// URL with a host, got "
            f"{url!r} (separate several URLs with spaces)"
        )
    if parts.username is not None or parts.password is not None:
        # The URL names the TSA in /healthz and /metrics, which need no authentication.
        raise ConfigError(
            f"TEMOIN_TSA_URLS: a TSA URL must not carry credentials (user:password@), got one "
            f"for host {parts.hostname!r}"
        )
    return url


@dataclass(frozen=True)
class TimestampConfig:
    """`TEMOIN_TSA_*`: which TSAs, which roots to trust, and the pace (short ones in tests)."""

    urls: tuple[str, ...] = ()
    roots_pem: bytes | None = None  # None: tokens are checked for content only, not signer
    roots_path: str | None = None
    interval: float = 1.0  # seconds between rounds when idle; also the first backoff step
    backoff_max: float = 300.0  # a failing TSA is retried at most this far apart
    timeout: float = 10.0  # one HTTP request to a TSA
    batch: int = 8  # checkpoints per TSA, per log, per round

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TimestampConfig:
        env = os.environ if environ is None else environ
        urls = tuple(_check_url(u) for u in env.get("TEMOIN_TSA_URLS", "").split())
        if len(set(urls)) != len(urls):
            raise ConfigError(f"TEMOIN_TSA_URLS names a TSA twice: {' '.join(urls)}")
        roots_path = env.get("TEMOIN_TSA_ROOTS", "").strip() or None
        roots_pem = None
        if roots_path is not None:
            try:
                roots_pem = Path(roots_path).read_bytes()
                load_roots(roots_pem)
            except OSError as exc:
                raise ConfigError(
                    f"TEMOIN_TSA_ROOTS: cannot read the TSA trust anchors {roots_path!r}: "
                    f"{exc.strerror or exc}"
                ) from None
            except ValueError as exc:
                raise ConfigError(
                    f"TEMOIN_TSA_ROOTS: {roots_path!r} must hold PEM certificates "
                    f"(the TSAs' root CAs): {exc}"
                ) from None
        batch_text = env.get("TEMOIN_TSA_BATCH", "").strip() or str(cls.batch)
        if not batch_text.isdigit() or int(batch_text) < 1:
            raise ConfigError(f"TEMOIN_TSA_BATCH must be an integer >= 1, got {batch_text!r}")
        return cls(
            urls=urls, roots_pem=roots_pem, roots_path=roots_path,
            interval=positive_seconds(env, "TEMOIN_TSA_INTERVAL", cls.interval),
            backoff_max=positive_seconds(env, "TEMOIN_TSA_BACKOFF_MAX", cls.backoff_max),
            timeout=positive_seconds(env, "TEMOIN_TSA_TIMEOUT", cls.timeout),
            batch=int(batch_text),
        )


def backoff(failures: int, interval: float, cap: float) -> float:
    """Seconds before the next request to a TSA after `failures` failures in a row:
    interval, 2 x interval, 4 x interval, ... at most `cap`."""
    return min(cap, interval * 2 ** min(max(failures, 1) - 1, 30))


def _now() -> datetime:
    return datetime.now(UTC)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class TsaState:
    """What /healthz says about one TSA; changed only by that TSA's task."""

    url: str
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    retry_at: float = 0.0  # monotonic: no request before this (backoff)
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def health(self) -> dict[str, Any]:
        return {
            "tsa": self.url,
            "last_success": _text(self.last_success),
            "last_error": self.last_error,
            "last_error_at": _text(self.last_error_at),
            "consecutive_failures": self.consecutive_failures,
            "retry_in_seconds": round(max(0.0, self.retry_at - time.monotonic()), 3),
        }


class Timestamper:
    def __init__(
        self, config: TimestampConfig, logs: Sequence[tuple[str, AttestedLog]], metrics: Metrics
    ) -> None:
        self.config = config
        self.logs = list(logs)
        self.states = [TsaState(url) for url in config.urls]
        self.requests = Counter(
            "temoin_tsa_requests_total",
            "Time-stamp requests by TSA and outcome (ok, unreachable, http_error, invalid)",
            ("tsa", "outcome"),
        )
        # (tsa, log) -> signed_at of the newest checkpoint that TSA has not stamped, or None.
        self._pending: dict[tuple[str, str], datetime | None] = {
            (s.url, name): None for s in self.states for name, _ in self.logs
        }
        metrics.add(
            self.requests,
            LabelledGauge(
                "temoin_tsa_pending_age_seconds",
                "Age of the newest signed checkpoint this TSA has not time-stamped yet "
                "(0: none pending)", ("tsa", "log"), self._pending_ages,
            ),
            LabelledGauge(
                "temoin_tsa_consecutive_failures",
                "Failed requests to this TSA since its last success", ("tsa",),
                lambda: {(s.url,): s.consecutive_failures for s in self.states},
            ),
        )
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken_size: dict[str, int] = {}  # per log name: the largest size woken for

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.states:
            return
        if self.config.roots_pem is None:
            log.warning("TEMOIN_TSA_ROOTS is not set: time-stamp tokens are checked for the "
                        "checkpoint's digest and the nonce, but not for who signed them")
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(timeout=self.config.timeout)
        self._tasks = [
            asyncio.create_task(self._run(state), name=f"temoin-tsa-{state.url}")
            for state in self.states
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel(task)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def add(self, name: str, store: AttestedLog) -> None:
        """Stamp this log's checkpoints too, from the next round on (a log started after the
        server: api/log_services.py). Called on the event loop, like the rounds that read
        `logs`, so a round sees the list before or after, never half-changed."""
        if any(known == name for known, _ in self.logs):
            return
        self.logs.append((name, store))
        for state in self.states:
            self._pending[(state.url, name)] = None
            state.woken.set()

    def checkpoint_signed(self, checkpoint: StoredCheckpoint, name: str = "log") -> None:
        """A checkpoint of log `name` was signed (called from any thread): ask the TSAs now,
        not next round."""
        if self._loop is None or checkpoint.size <= self._woken_size.get(name, -1):
            return
        self._woken_size[name] = checkpoint.size
        for state in self.states:
            with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to wake
                self._loop.call_soon_threadsafe(state.woken.set)

    def health(self) -> list[dict[str, Any]]:
        return [state.health() for state in self.states]

    def _pending_ages(self) -> dict[tuple[str, ...], float]:
        now = _now()
        return {
            key: 0.0 if since is None else max(0.0, (now - since).total_seconds())
            for key, since in self._pending.items()
        }

    # -- one task per TSA ------------------------------------------------------------------
    async def _run(self, state: TsaState) -> None:
        busy = True  # the first round at once: checkpoints signed while we were stopped
        while True:
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.woken.wait(), timeout=self.config.interval)
                state.woken.clear()
            try:
                busy = await self._round(state)
            except Exception:
                # The database may be down for a while: say so, and try again next round.
                log.warning("time-stamping round for %s failed; retrying", state.url,
                            exc_info=True)
                busy = False

    async def _round(self, state: TsaState) -> bool:
        """Stamp one batch per log; True if a full batch went through (more may be waiting)."""
        more = False
        for name, store in list(self.logs):
            sizes = await to_thread.run_sync(
                store.checkpoints_lacking, KIND, state.url, self.config.batch
            )
            if sizes and time.monotonic() >= state.retry_at:
                stamped = 0
                for size in sizes:
                    checkpoint = await to_thread.run_sync(store.checkpoint, size)
                    if checkpoint is None or not await self._stamp(state, name, store,
                                                                   checkpoint):
                        break
                    stamped += 1
                more = more or stamped == self.config.batch
                if stamped:
                    sizes = await to_thread.run_sync(store.checkpoints_lacking, KIND,
                                                     state.url, 1)
            await self._note_pending(state, name, store, sizes)
        return more

    async def _note_pending(
        self, state: TsaState, name: str, store: AttestedLog, sizes: list[int]
    ) -> None:
        since = None
        if sizes:
            newest = await to_thread.run_sync(store.checkpoint, sizes[0])
            since = signed_at(newest) if newest is not None else None
        self._pending[(state.url, name)] = since

    async def _stamp(
        self, state: TsaState, name: str, store: AttestedLog, checkpoint: StoredCheckpoint
    ) -> bool:
        assert self._client is not None
        query, nonce = build_request(checkpoint.note)
        try:
            answer = await self._client.post(
                state.url, content=query,
                headers={"Content-Type": QUERY_MEDIA_TYPE, "Accept": REPLY_MEDIA_TYPE},
            )
        except httpx.HTTPError as exc:
            return self._failed(state, "unreachable", f"{type(exc).__name__}: {exc}")
        if answer.status_code != 200:
            return self._failed(
                state, "http_error",
                f"HTTP {answer.status_code}: {answer.text[:200].strip()!r}",
            )
        try:
            await to_thread.run_sync(
                verify_token, answer.content, checkpoint.note, self.config.roots_pem, nonce
            )
        except TimestampError as exc:
            return self._failed(
                state, "invalid",
                f"refused its token for the {name} checkpoint of size {checkpoint.size}: {exc}",
            )
        await to_thread.run_sync(store.store_attestation, Attestation(
            checkpoint.size, KIND, state.url, answer.content, _text(_now()) or "",
        ))
        self.requests.inc(1, state.url, "ok")
        if state.consecutive_failures:
            log.info("TSA %s answers again after %d failures", state.url,
                     state.consecutive_failures)
        state.last_success = _now()
        state.consecutive_failures = 0
        state.retry_at = 0.0
        return True

    def _failed(self, state: TsaState, outcome: str, error: str) -> bool:
        self.requests.inc(1, state.url, outcome)
        state.consecutive_failures += 1
        state.last_error, state.last_error_at = error, _now()
        delay = backoff(state.consecutive_failures, self.config.interval, self.config.backoff_max)
        state.retry_at = time.monotonic() + delay
        log.warning("TSA %s: %s (%d in a row; next try in %.1f s)", state.url, error,
                    state.consecutive_failures, delay)
        return False
