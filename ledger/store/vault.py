"""The vault: each case's wrapped key and the sealed openings of its personal fields
(DESIGN §6). Rows are written by the append transaction (`ledger.store.batch`) and destroyed by
an erasure; this module reads them, and finishes erasures an older release left undone.

Mixed into the store (`ledger.store.base.MerkleStore`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ledger.store.sql_access import SqlAccess


def vault_ddl(blob: str, bigint: str, keyed: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS vault_keys (case_id TEXT PRIMARY KEY, "
        f"wrapped {blob} NOT NULL){keyed}",
        f"CREATE TABLE IF NOT EXISTS vault_openings (case_id TEXT NOT NULL, case_seq {bigint} "
        f"NOT NULL, field TEXT NOT NULL, sealed {blob} NOT NULL, "
        f"PRIMARY KEY (case_id, case_seq, field)){keyed}",
    ]


class VaultMixin(SqlAccess):
    def _not_of_other_logs(self, hex_id_sql: str) -> str:
        raise NotImplementedError

    def wrapped_key_sample(self, limit: int = 3) -> list[tuple[str, bytes]]:
        """A few (case_id, wrapped key) rows: enough to tell whether a master key is the one
        that wrapped them (ledger/custody.py), without reading the table."""
        rows = self._query(
            "SELECT case_id, wrapped FROM vault_keys ORDER BY case_id LIMIT ?", (limit,)
        )
        return [(r[0], bytes(r[1])) for r in rows]

    def vault_counts(self) -> tuple[int, int]:
        """(wrapped case keys, sealed openings): for messages about a missing master key."""
        keys = self._query("SELECT count(*) FROM vault_keys")[0][0]
        openings = self._query("SELECT count(*) FROM vault_openings")[0][0]
        return int(keys), int(openings)

    def case_key(self, case_id: str) -> bytes | None:
        rows = self._query("SELECT wrapped FROM vault_keys WHERE case_id = ?", (case_id,))
        return bytes(rows[0][0]) if rows else None

    def sealed_openings(self, case_id: str) -> list[tuple[int, str, bytes]]:
        rows = self._query(
            "SELECT case_seq, field, sealed FROM vault_openings WHERE case_id = ? "
            "ORDER BY case_seq, field",
            (case_id,),
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def iter_openings_with_keys(self) -> Iterator[tuple[str, int, str, bytes, bytes | None]]:
        """Every sealed opening with its case's wrapped key (None once erased), by case."""
        # With several logs in the database, only the cases no other log holds.
        where = self._not_of_other_logs("o.case_id")
        for r in self._stream(
            "SELECT o.case_id, o.case_seq, o.field, o.sealed, k.wrapped FROM vault_openings o "
            f"LEFT JOIN vault_keys k ON k.case_id = o.case_id {where} "
            "ORDER BY o.case_id, o.case_seq"
        ):
            yield r[0], r[1], r[2], bytes(r[3]), None if r[4] is None else bytes(r[4])

    def openings_before(
        self, case_id: str, before_seq: int, fields: Sequence[str] | None
    ) -> list[tuple[int, str]]:
        """(case_seq, field) of sealed openings an erasure at `before_seq` covers."""
        rows = self._query(
            "SELECT case_seq, field FROM vault_openings WHERE case_id = ? AND case_seq < ? "
            "ORDER BY case_seq, field",
            (case_id, before_seq),
        )
        return [(r[0], r[1]) for r in rows if fields is None or r[1] in fields]

    def finish_erasure(self, case_id: str, before_seq: int, fields: Sequence[str] | None) -> int:
        """Destroy what an erasure recorded by an older release left in the vault; returns
        the number of openings deleted."""
        found = self.openings_before(case_id, before_seq, fields)
        for seq, name in found:
            self._execute(
                "DELETE FROM vault_openings WHERE case_id = ? AND case_seq = ? AND field = ?",
                (case_id, seq, name),
            )
        if fields is None:
            self._execute("DELETE FROM vault_keys WHERE case_id = ?", (case_id,))
        return len(found)
