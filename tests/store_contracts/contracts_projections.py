"""Contract of the projection tables (ProjectionReader, Projections): the case index and the
timeline rows, moved with their position in one guarded transaction."""

from __future__ import annotations

from ledger.apikeys import MAX_LAWYER_CASES
from ledger.case_search import Filters, list_cases, parse_filters
from ledger.store.projection_tables import CaseIndexRow, CaseQuery, TimelineRow
from ledger.store.protocols import Store
from tests.store_contracts.backends import Backend, Opener


def _row(case: str, *, tenant: str = "t", status: str | None = "open", entries: int = 1,
         opened_at: str | None = "2026-01-01T00:00:00Z", closed_at: str | None = None,
         index: int = 0) -> CaseIndexRow:
    return CaseIndexRow(tenant, case, status, entries, entries, opened_at, closed_at, index,
                        index)


def _index(store: Store, rows: list[tuple[str, str]]) -> None:
    store.save_projection("test", store.projection_position("test"), 1, [
        CaseIndexRow("shop-1", case, "open", 1, 1, opened_at, None, i, i)
        for i, (case, opened_at) in enumerate(rows)
    ], [])


class ProjectionsContract(Backend):
    def test_a_chunk_moves_rows_and_position_together(self, store: Store) -> None:
        assert store.projection_position("p") == 0
        assert store.save_projection("p", 0, 2, [_row("A", index=0), _row("B", index=1)], [
            TimelineRow(0, "t", "A", 1, '{"a":1}'), TimelineRow(1, "t", "B", 1, '{"b":1}')])
        assert store.projection_position("p") == 2
        # A runner that read position 0 too lost the race: nothing of its chunk is written.
        assert not store.save_projection("p", 0, 3, [_row("C", index=2)], [
            TimelineRow(2, "t", "C", 1, "{}")])
        assert store.case_index("t", "C") is None and store.projection_position("p") == 2
        assert store.all_timeline_rows() == [(0, '{"a":1}'), (1, '{"b":1}')]

    def test_a_case_row_accumulates_over_chunks(self, store: Store) -> None:
        assert store.projection_position("p") == 0  # a projection's first read creates its row
        chunks = [
            ([_row("A", entries=1, index=0)], [TimelineRow(0, "t", "A", 1, "r1")]),
            ([_row("A", status=None, entries=2, opened_at=None, index=2)],
             [TimelineRow(1, "t", "A", 2, "r2"), TimelineRow(2, "t", "A", 3, "r3")]),
            ([_row("A", status="closed", entries=1, opened_at=None,
                   closed_at="2026-02-01T00:00:00Z", index=3)],
             [TimelineRow(3, "t", "A", 4, "r4")]),
        ]
        position = 0
        for cases, timeline in chunks:
            assert store.save_projection("p", position, position + len(timeline), cases, timeline)
            position += len(timeline)
        row = store.case_index("t", "A")
        assert row == CaseIndexRow("t", "A", "closed", 4, 1, "2026-01-01T00:00:00Z",
                                   "2026-02-01T00:00:00Z", 0, 3)
        assert store.timeline_rows("t", "A") == ["r1", "r2", "r3", "r4"]
        assert store.timeline_rows("t", "A", below=2) == ["r1", "r2"]
        assert store.timeline_rows("other", "A") == []
        assert store.case_index("other", "A") is None

    def test_reset_empties_the_tables_and_rewinds(self, store: Store) -> None:
        store.save_projection("p", store.projection_position("p"), 1,
                              [_row("A", tenant="t2"), _row("B", tenant="t1")],
                              [TimelineRow(0, "t1", "B", 1, "r")])
        assert [(r.tenant, r.case) for r in store.all_case_index()] == [("t1", "B"), ("t2", "A")]
        assert store.case_tenants() == ["t1", "t2"]
        store.reset_projections("p")
        assert store.projection_position("p") == 0
        assert store.all_case_index() == [] and store.all_timeline_rows() == []
        assert store.case_tenants() == []

    def test_each_log_projects_into_its_own_rows(self, store: Store,
                                                  open_store: Opener) -> None:
        """Schema version 3: leaf 0 of log 2 is not leaf 0 of log 1; positions, the case
        index of a log and its reset are the log's own."""
        other = open_store(2)
        assert (store.log_id, other.log_id) == (1, 2)
        assert store.save_projection("p", store.projection_position("p"), 2,
                                     [_row("A", tenant="t1", index=1)],
                                     [TimelineRow(0, "t1", "A", 1, "a1"),
                                      TimelineRow(1, "t1", "A", 2, "a2")])
        assert other.projection_position("p") == 0
        assert other.save_projection("p", 0, 1, [_row("B", tenant="t2")],
                                     [TimelineRow(0, "t2", "B", 1, "b1")])
        assert (store.projection_position("p"), other.projection_position("p")) == (2, 1)
        assert store.all_timeline_rows() == [(0, "a1"), (1, "a2")]
        assert other.all_timeline_rows() == [(0, "b1")]
        assert [r.case for r in store.all_case_index()] == ["A"]
        assert [r.case for r in other.all_case_index()] == ["B"]
        assert (store.case_tenants(), other.case_tenants()) == (["t1"], ["t2"])
        # A tenant belongs to one log: its cases are found whichever log's store asks.
        assert [r[0] for r in other.find_cases(CaseQuery("t2"))] == ["B"]
        assert store.timeline_rows("t2", "B") == ["b1"]
        other.reset_projections("p")
        assert (store.projection_position("p"), other.projection_position("p")) == (2, 0)
        assert other.all_case_index() == [] and other.all_timeline_rows() == []
        assert [r.case for r in store.all_case_index()] == ["A"]
        assert store.all_timeline_rows() == [(0, "a1"), (1, "a2")]

    def test_find_cases_filters_in_case_id_order(self, store: Store) -> None:
        store.save_projection("p", store.projection_position("p"), 1, [
            _row("b_1", status="closed"), _row("a%2"), _row("c-3"), _row("D", tenant="other")],
            [])
        assert [r[0] for r in store.find_cases(CaseQuery("t"))] == ["a%2", "b_1", "c-3"]
        assert [r[0] for r in store.find_cases(CaseQuery("t", status="closed"))] == ["b_1"]
        assert [r[0] for r in store.find_cases(CaseQuery("t", after="a%2", limit=1))] == ["b_1"]
        # LIKE wildcards in the text are literal; the match ignores case.
        assert [r[0] for r in store.find_cases(CaseQuery("t", contains="%"))] == ["a%2"]
        assert [r[0] for r in store.find_cases(CaseQuery("t", contains="_"))] == ["b_1"]
        assert [r[0] for r in store.find_cases(CaseQuery("t", contains="C-"))] == ["c-3"]
        assert store.find_cases(CaseQuery("t", only=frozenset())) == []
        assert [r[0] for r in store.find_cases(CaseQuery("t", only=frozenset({"D", "c-3"})))] == [
            "c-3"]
        assert store.find_cases(CaseQuery("t"))[2] == ("c-3", "open", 1, 1,
                                                       "2026-01-01T00:00:00Z", None)

    def test_lawyer_cases_and_instants(self, store: Store) -> None:
        _index(store, [(f"C-{i:05d}", "2025-01-01T00:00:00Z") for i in range(1200)] + [
            ("T-whole", "2025-02-01T00:00:01Z"), ("T-frac", "2025-02-01T00:00:00.999999Z")])
        only = frozenset(f"C-{i:05d}" for i in range(0, 2 * MAX_LAWYER_CASES, 2))
        assert len(only) == MAX_LAWYER_CASES
        seen: list[str] = []
        cursor = None
        while True:  # a lawyer's 1,000 cases fit one query per page
            page = list_cases(store, "shop-1", Filters(), cursor=cursor, limit=500, only=only)
            seen.extend(i["case"] for i in page.items)
            if (cursor := page.next_cursor) is None:
                break
        assert seen == sorted(c for c in only if c < "C-01200")
        # Opening times compare as instants, whatever their fraction of a second.
        filters = parse_filters(opened_after="2025-02-01T00:00:00.999999Z")
        assert [i["case"] for i in list_cases(store, "shop-1", filters).items] == [
            "T-frac", "T-whole"]
        filters = parse_filters(opened_before="2025-02-01T01:00:01+01:00", q="T-")
        assert [i["case"] for i in list_cases(store, "shop-1", filters).items] == ["T-frac"]
