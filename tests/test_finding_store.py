"""The store's finding queries on both backends: an old database gains the revocation table,
a lawyer's 1,000 cases fit one query, opening times compare as instants."""

from __future__ import annotations

from ledger.apikeys import MAX_LAWYER_CASES, authenticate, create_key
from ledger.case_search import Filters, list_cases, parse_filters
from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.store.projection_tables import CaseIndexRow


def test_a_database_from_before_revocations_gains_the_table(settings: Settings) -> None:
    ledger = Ledger(settings)
    try:
        key_id, token = create_key(ledger.store, "admin", "shop-1")
        ledger.store._execute("DROP TABLE api_key_revocations")
    finally:
        ledger.close()
    ledger = Ledger(settings)  # as a server started on the old database would
    try:
        assert authenticate(ledger.store, token) is not None
        ledger.store.revoke_api_key(key_id, "2026-01-01T00:00:00.000000Z", "cli")
        assert authenticate(ledger.store, token) is None
        row = ledger.store.api_key_row(key_id)
        assert row is not None and (row.revoked_at, row.revoked_by) == (
            "2026-01-01T00:00:00.000000Z", "cli")
    finally:
        ledger.close()


def _index(ledger: Ledger, rows: list[tuple[str, str]]) -> None:
    ledger.store.save_projection("test", ledger.store.projection_position("test"), 1, [
        CaseIndexRow("shop-1", case, "open", 1, 1, opened_at, None, i, i)
        for i, (case, opened_at) in enumerate(rows)
    ], [])


def test_lawyer_cases_and_instants(settings: Settings) -> None:
    ledger = Ledger(settings)
    try:
        _index(ledger, [(f"C-{i:05d}", "2025-01-01T00:00:00Z") for i in range(1200)] + [
            ("T-whole", "2025-02-01T00:00:01Z"), ("T-frac", "2025-02-01T00:00:00.999999Z")])
        only = frozenset(f"C-{i:05d}" for i in range(0, 2 * MAX_LAWYER_CASES, 2))
        assert len(only) == MAX_LAWYER_CASES
        seen: list[str] = []
        cursor = None
        while True:
            page = list_cases(ledger.store, "shop-1", Filters(), cursor=cursor, limit=500,
                              only=only)
            seen.extend(i["case"] for i in page.items)
            if (cursor := page.next_cursor) is None:
                break
        assert seen == sorted(c for c in only if c < "C-01200")
        filters = parse_filters(opened_after="2025-02-01T00:00:00.999999Z")
        assert [i["case"] for i in list_cases(ledger.store, "shop-1", filters).items] == [
            "T-frac", "T-whole"]
        filters = parse_filters(opened_before="2025-02-01T01:00:01+01:00", q="T-")
        assert [i["case"] for i in list_cases(ledger.store, "shop-1", filters).items] == [
            "T-frac"]
    finally:
        ledger.close()
