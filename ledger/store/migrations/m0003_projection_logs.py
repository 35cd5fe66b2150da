"""Migration 2 -> 3: the read-side projections per log (`v3.py`).

The projection tables (case index, timeline rows, positions) are derived data: every row is
computed from the log's entries by `projections/runner.py`, and nothing else writes them. So
the migration does not convert them: one transaction drops them and creates the version-3
tables empty (no position row: a projection's position is 0 until it first moves), and the
projection runner rebuilds them from each log when Témoin next starts (`temoin serve` catches
up before it listens; `temoin cases` and `temoin report` before they read). No entry, leaf,
node or checkpoint is touched.
"""

from __future__ import annotations

from typing import Any

from ledger.store.migrations.database import Database
from ledger.store.migrations.plan import Batch, Step
from ledger.store.migrations.v1 import Dialect
from ledger.store.migrations.v3 import PROJECTION_DDL, PROJECTION_TABLES


class ProjectionLogs:
    source = 2
    target = 3
    summary = "read-side projections per log (dropped, then rebuilt from the log)"

    def survey(self, db: Database) -> dict[str, Any]:
        """How many rows are dropped (for the plan's line): they are rebuilt, not copied."""
        tables = db.table_names()
        counts = {name: int(db.query(f"SELECT COUNT(*) FROM {name}")[0][0])
                  for name in ("case_index", "timeline_rows") if name in tables}
        return {"rows": counts}

    def plan(self, survey: dict[str, Any], dialect: Dialect) -> list[Step]:
        rows = survey["rows"]
        statements = tuple(
            [(f"DROP TABLE IF EXISTS {name}", ()) for name in PROJECTION_TABLES]
            + [(ddl, ()) for ddl in PROJECTION_DDL]
        )
        label = (f"drop the projections ({rows.get('case_index', 0):,} cases, "
                 f"{rows.get('timeline_rows', 0):,} timeline rows) and create them per log, "
                 f"empty: the projection runner rebuilds them from the log")
        return [Step(label, (Batch(statements),))]
