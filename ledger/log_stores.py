"""The store of every log of a database, opened without their keys (issue 14 "Many logs").

For the readers of every log that sign nothing: the projection follower of a server projects
each log of the database into that log's rows (schema version 3), whether or not this server
has started the log (ledger/logs.py opens a log with its keys, which a log created by
`temoin logs create` while the server runs may not have here yet). A log the caller has open
already (the server's Ledger of a started log: `opened`) is read through that store, not a
second connection pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from ledger.config import Settings
from ledger.store.migrations.v2 import LOG_ONE

if TYPE_CHECKING:
    from ledger.application import CaseLog
    from ledger.store.protocols import LogReader, ProjectionSource, Store


class LogStores:
    def __init__(self, settings: Settings, main: Store | None = None,
                 opened: Callable[[int], Store | None] | None = None) -> None:
        """`main`: log 1's store if the caller has it open already (it stays the caller's);
        `opened`: the caller's store of a log if it has that log open (it stays the caller's
        too), else None; asked before this opens a log's store itself."""
        self.settings = settings
        self._apps: dict[int, CaseLog] = {}
        self._main = main
        self._opened = opened
        self._lock = threading.Lock()

    def log_ids(self) -> list[int]:
        """Log 1 and every registered log, read again at each call: a log created while this
        runs is followed from the next call on."""
        return [LOG_ONE, *(row.log_id for row in self._open(LOG_ONE).registered_logs())]

    def store(self, log_id: int) -> ProjectionSource:
        return self._open(log_id)

    def reader(self, log_id: int) -> LogReader:
        """The entries of log `log_id` (what `temoin retention` reads of the other logs)."""
        return self._open(log_id)

    def _open(self, log_id: int) -> Store:
        if log_id == LOG_ONE and self._main is not None:
            return self._main
        if self._opened is not None:
            theirs = self._opened(log_id)
            if theirs is not None:
                # The caller started this log since we opened it ourselves: ours goes. Its
                # one user (the follower) asks for the store again each round
                # (projections/runner.py), so nothing reads through ours any more.
                with self._lock:
                    ours = self._apps.pop(log_id, None)
                if ours is not None:
                    ours.close()
                return theirs
        with self._lock:
            app = self._apps.get(log_id)
            if app is None:
                from ledger.application import CaseLog

                # The store needs no origin or key of its log: its log id is all it reads by.
                app = CaseLog(env=replace(self.settings, log_id=log_id).persistence_env())
                self._apps[log_id] = app
            return app.store

    def opened_here(self) -> list[int]:
        """The logs whose store this opened itself (a pool of its own each)."""
        with self._lock:
            return sorted(self._apps)

    def close(self) -> None:
        with self._lock:
            apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            app.close()
