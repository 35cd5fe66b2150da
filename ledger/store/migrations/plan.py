"""What a migration step is: a survey of the database (I/O), then a plan (pure) of batches.

A batch is a list of statements run in ONE transaction together with the update of the
migration's position in `schema_version`; the runner (`runner.py`) does the I/O. The survey is
stored with the position when the migration starts, so that a rerun plans the very same batches
even after earlier batches dropped or renamed the tables the survey looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ledger.store.migrations.database import Database
from ledger.store.migrations.v1 import Dialect


@dataclass(frozen=True, slots=True)
class Batch:
    statements: tuple[tuple[str, tuple[Any, ...]], ...]
    entries: int = 0  # log entries this batch carries (for progress: done / total)


@dataclass(frozen=True, slots=True)
class Step:
    label: str  # what it does, for --dry-run and progress lines
    batches: tuple[Batch, ...]

    @property
    def entries(self) -> int:
        return sum(b.entries for b in self.batches)


class Migration(Protocol):
    source: int  # the version it starts from
    target: int  # the version it makes (source + 1)
    summary: str

    def survey(self, db: Database) -> dict[str, Any]:
        """Read what planning needs (JSON-serialisable); the only I/O of a migration."""
        ...

    def plan(self, survey: dict[str, Any], dialect: Dialect) -> list[Step]: ...
