"""WAL frames per 1,000-event group commit (100 new cases of ten events), by B-tree (SQLite).

    .venv/bin/python scripts/wal_frames.py WORKDIR 10000 100000 1000000

Grows a ledger in WORKDIR with `scripts.bench.LogBuilder` to each size in turn; at each, three
times: `PRAGMA wal_checkpoint(TRUNCATE)`, one `LogBuilder.commit_groups(100)` (the Sequencer's
group-commit path), then every frame of the WAL is mapped to the table or index owning its page
(`dbstat`). Prints the mean frames per commit, by B-tree. Deterministic for a given layout,
unlike the rates of scripts/bench.py scenario 4 (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import collections
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ledger.config import Settings  # noqa: E402
from ledger.ledger import Ledger  # noqa: E402
from scripts.bench import LogBuilder  # noqa: E402

_FRAME = 24 + 4096  # frame header + page (the default page size)


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    work.mkdir(parents=True, exist_ok=True)
    db = work / "frames.db"
    wal = Path(f"{db}-wal")
    settings = Settings(database_url=f"sqlite:///{db}", data_dir=work / "data",
                        origin="bench.example/log")
    ledger = Ledger(settings)
    try:
        builder = LogBuilder(ledger, 1000)
        for target in (int(a) for a in argv[1:]):
            builder.grow_to(target)
            counts: collections.Counter[str] = collections.Counter()
            total = 0
            for _ in range(3):
                conn = sqlite3.connect(db)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                conn.close()
                builder.commit_groups(100)
                data = wal.read_bytes()
                pages = [int.from_bytes(data[32 + i * _FRAME: 36 + i * _FRAME], "big")
                         for i in range((len(data) - 32) // _FRAME)]
                conn = sqlite3.connect(db)
                owner = {p: n for n, p in conn.execute("SELECT name, pageno FROM dbstat")}
                conn.close()
                total += len(pages)
                counts.update(owner.get(p, "?") for p in pages)
            print(f"at {target:,}: {total / 3:.0f} frames per commit: "
                  + ", ".join(f"{n} {k / 3:.0f}" for n, k in counts.most_common()), flush=True)
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
