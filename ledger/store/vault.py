"""The vault: each case's wrapped key and the sealed openings of its personal fields
(DESIGN §6). Rows are written by the append transaction (`ledger.store.batch`) and destroyed by
an erasure; this module reads them, and finishes erasures an older release left undone.

Since schema version 4 both tables are keyed by the case's number (`<p>_cases.case_no`, the
entry key of its first event: `ledger/store/migrations/v4.py`), so that new cases land at the
right edge of their B-trees; the methods here still take and give case ids (hex), translated
through `<p>_cases` (id -> number) and the case's first event (number -> id).

Mixed into the store (`ledger.store.base.MerkleStore`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ledger.store.sql_access import SqlAccess


class VaultMixin(SqlAccess):
    prefix: str
    events_table_name: str
    _hex_id_cast: str

    def _id_text(self, originator_id: object) -> str:
        raise NotImplementedError

    def _of_this_log(self, case_no_sql: str) -> str:
        raise NotImplementedError

    def _case_no_sql(self, mark: str = "?") -> str:
        """A subquery: the number of the case whose id (hex) is bound at `mark`."""
        return (f"(SELECT case_no FROM {self.prefix}_cases WHERE case_id = "
                f"{mark}{self._hex_id_cast})")

    def _case_hex(self, originator_id: object, case_no: int) -> str:
        # An opening or key whose case has no first event (a forged row) is named by number.
        return f"#{case_no}" if originator_id is None else self._id_text(originator_id)

    def wrapped_key_sample(self, limit: int = 3) -> list[tuple[str, bytes]]:
        """A few (case_id, wrapped key) rows: enough to tell whether a master key is the one
        that wrapped them (ledger/custody.py), without reading the table."""
        rows = self._query(
            f"SELECT e.originator_id, k.wrapped, k.case_no FROM vault_keys k "
            f"JOIN {self.events_table_name} e ON e.entry = k.case_no "
            f"ORDER BY k.case_no LIMIT ?", (limit,)
        )
        return [(self._case_hex(r[0], r[2]), bytes(r[1])) for r in rows]

    def vault_counts(self) -> tuple[int, int]:
        """(wrapped case keys, sealed openings): for messages about a missing master key."""
        keys = self._query("SELECT count(*) FROM vault_keys")[0][0]
        openings = self._query("SELECT count(*) FROM vault_openings")[0][0]
        return int(keys), int(openings)

    def case_key(self, case_id: str) -> bytes | None:
        rows = self._query(
            f"SELECT wrapped FROM vault_keys WHERE case_no = {self._case_no_sql()}", (case_id,))
        return bytes(rows[0][0]) if rows else None

    def sealed_openings(self, case_id: str) -> list[tuple[int, str, bytes]]:
        rows = self._query(
            f"SELECT case_seq, field, sealed FROM vault_openings "
            f"WHERE case_no = {self._case_no_sql()} ORDER BY case_seq, field",
            (case_id,),
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def iter_openings_with_keys(self) -> Iterator[tuple[str, int, str, bytes, bytes | None]]:
        """Every sealed opening with its case's wrapped key (None once erased), by case."""
        # With several logs in the database, only this log's cases (and those of no log).
        where = self._of_this_log("o.case_no")
        for r in self._stream(
            "SELECT e.originator_id, o.case_seq, o.field, o.sealed, k.wrapped, o.case_no "
            "FROM vault_openings o LEFT JOIN vault_keys k ON k.case_no = o.case_no "
            f"LEFT JOIN {self.events_table_name} e ON e.entry = o.case_no "
            f"{'WHERE ' + where if where else ''} ORDER BY o.case_no, o.case_seq, o.field"
        ):
            yield (self._case_hex(r[0], r[5]), r[1], r[2], bytes(r[3]),
                   None if r[4] is None else bytes(r[4]))

    def openings_before(
        self, case_id: str, before_seq: int, fields: Sequence[str] | None
    ) -> list[tuple[int, str]]:
        """(case_seq, field) of sealed openings an erasure at `before_seq` covers."""
        rows = self._query(
            f"SELECT case_seq, field FROM vault_openings WHERE case_no = {self._case_no_sql()} "
            "AND case_seq < ? ORDER BY case_seq, field",
            (case_id, before_seq),
        )
        return [(r[0], r[1]) for r in rows if fields is None or r[1] in fields]

    def finish_erasure(self, case_id: str, before_seq: int, fields: Sequence[str] | None) -> int:
        """Destroy what an erasure recorded by an older release left in the vault; returns
        the number of openings deleted."""
        found = self.openings_before(case_id, before_seq, fields)
        for seq, name in found:
            self._execute(
                f"DELETE FROM vault_openings WHERE case_no = {self._case_no_sql()} "
                "AND case_seq = ? AND field = ?",
                (case_id, seq, name),
            )
        if fields is None:
            self._execute(
                f"DELETE FROM vault_keys WHERE case_no = {self._case_no_sql()}", (case_id,))
        return len(found)
