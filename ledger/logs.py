"""Many logs in one database (issue 14 "Many logs", DESIGN §9): open the log of a tenant.

Each log has its own origin, signing key, checkpoints, signer state and access journal; they
share the database's tables (every log table keyed by `log_id`), the vault master key and the
evidence folder. Log 1 is the deployment's own (`TEMOIN_LOG_ORIGIN`, keys in the data folder);
`temoin logs create` adds more, their keys in `<data>/logs/<id>/` (ledger/store/log_registry.py
holds the registry). A tenant writes to and reads from exactly one log, for good: it may be
mapped to a new log only before it has an API key or a case, so that no entry of it is ever in
another log.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.access import AccessJournal
from ledger.config import Settings
from ledger.errors import ValidationError, WriteConflictError
from ledger.filemodes import private_dir
from ledger.ledger import Ledger
from ledger.signing import InvalidKeyError, LogKey
from ledger.store.migrations.v2 import LOG_ONE
from ledger.store.protocols import LogRegistry


class LogSetError(ValidationError):
    """A log cannot be created or opened as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class LogInfo:
    """One log as `temoin logs list` shows it."""

    log_id: int
    origin: str
    created_at: str | None  # None for log 1 (it is the deployment's, not registered)
    tenants: list[str]  # tenants mapped to it; log 1 also has every tenant not mapped
    size: int
    verifier_key: str


def check_origin(origin: str) -> str:
    """An origin a log may take: a checkpoint's first line and its key's name."""
    try:
        LogKey.generate(origin)  # the key name rules (no space, '+', control characters)
    except InvalidKeyError as exc:
        raise LogSetError(f"invalid origin {origin!r}: {exc}") from None
    return origin


class LogSet:
    """The logs of one database, each opened on first use and kept open (a `Ledger`, its
    access journal): what routes and commands ask for a tenant's log."""

    def __init__(self, settings: Settings, main: Ledger | None = None) -> None:
        self.settings = settings
        self._owned: set[int] = set() if main is not None else {LOG_ONE}
        self._ledgers: dict[int, Ledger] = {LOG_ONE: main or Ledger(settings)}
        self._journals: dict[int, AccessJournal] = {}
        self._tenants: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def main(self) -> Ledger:
        return self._ledgers[LOG_ONE]

    @property
    def registry(self) -> LogRegistry:
        return self.main.store

    def log_ids(self) -> list[int]:
        return [LOG_ONE, *(row.log_id for row in self.registry.registered_logs())]

    def settings_for(self, log_id: int) -> Settings:
        if log_id == LOG_ONE:
            return self.settings
        for row in self.registry.registered_logs():
            if row.log_id == log_id:
                return self.settings.for_log(log_id, row.origin)
        raise LogSetError(f"no log {log_id} in this database (`temoin logs list`)")

    def ledger(self, log_id: int) -> Ledger:
        with self._lock:
            found = self._ledgers.get(log_id)
        if found is not None:
            return found
        opened = Ledger(self.settings_for(log_id))  # outside the lock: it may create keys
        with self._lock:
            found = self._ledgers.setdefault(log_id, opened)
        if found is not opened:
            opened.close()  # another thread opened it meanwhile
        else:
            self._owned.add(log_id)
        return found

    def journal(self, log_id: int) -> AccessJournal:
        with self._lock:
            found = self._journals.get(log_id)
        if found is not None:
            return found
        opened = AccessJournal(self.ledger(log_id).settings)
        with self._lock:
            found = self._journals.setdefault(log_id, opened)
        if found is not opened:
            opened.close()
        return found

    def log_of(self, tenant: str) -> int:
        """The log of `tenant`. Kept once read: a tenant is never moved to another log."""
        log_id = self._tenants.get(tenant)
        if log_id is None:
            log_id = self._tenants[tenant] = self.registry.tenant_log(tenant)
        return log_id

    def for_tenant(self, tenant: str) -> Ledger:
        return self.ledger(self.log_of(tenant))

    # -- temoin logs ------------------------------------------------------------------------
    def create(self, origin: str, tenants: Sequence[str], now: datetime | None = None) -> Ledger:
        """Register a log for `tenants`, create its signing keys, and open it. Tenants with
        cases are found in log 1's case index: the caller catches its projections up first."""
        check_origin(origin)
        taken = {self.settings.origin} | {r.origin for r in self.registry.registered_logs()}
        # An access journal's origin is its log's + "/access": none may equal another's.
        names = taken | {f"{o}/access" for o in taken}
        if origin in names or f"{origin}/access" in names:
            raise LogSetError(f"origin {origin!r} is taken by a log of this database (or its "
                              f"access journal)")
        self._check_tenants(tenants)
        moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            log_id = self.registry.create_log(origin, moment, list(tenants))
        except WriteConflictError as exc:
            raise LogSetError(f"another log took this origin or one of these tenants "
                              f"meanwhile: {exc}") from None
        private_dir(self.settings.data_dir / "logs")
        ledger = self.ledger(log_id)
        self.journal(log_id)  # its own key too, now rather than at the first read
        return ledger

    def _check_tenants(self, tenants: Sequence[str]) -> None:
        if len(set(tenants)) != len(tenants):
            raise LogSetError("a tenant is named twice")
        mapped = self.registry.mapped_tenants()
        with_cases = set(self.main.store.case_tenants())
        for tenant in tenants:
            if not tenant or tenant != tenant.strip():
                raise LogSetError(f"invalid tenant name {tenant!r}")
            if tenant in mapped:
                raise LogSetError(f"tenant {tenant!r} already has its log (log "
                                  f"{mapped[tenant]}); a tenant never moves to another log")
            # On log 1 so far: only a tenant that never could have written may move.
            if self.main.store.list_api_keys(tenant) or tenant in with_cases:
                raise LogSetError(
                    f"tenant {tenant!r} already has API keys or cases on log 1: its entries "
                    f"stay in the log they were appended to; map a tenant before creating "
                    f"its first API key")

    def describe(self) -> list[LogInfo]:
        mapped = self.registry.mapped_tenants()
        created = {r.log_id: r.created_at for r in self.registry.registered_logs()}
        out = []
        for log_id in self.log_ids():
            ledger = self.ledger(log_id)
            out.append(LogInfo(
                log_id=log_id, origin=ledger.origin, created_at=created.get(log_id),
                tenants=sorted(t for t, i in mapped.items() if i == log_id),
                size=ledger.tree_size(), verifier_key=ledger.key.verifier_key,
            ))
        return out

    def close(self) -> None:
        with self._lock:
            journals, self._journals = list(self._journals.values()), {}
            ledgers = [ledger for i, ledger in self._ledgers.items() if i in self._owned]
            self._ledgers = {LOG_ONE: self._ledgers[LOG_ONE]}
        for journal in journals:
            journal.close()
        for ledger in ledgers:
            ledger.close()
