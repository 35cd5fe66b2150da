"""Contract of the log registry (LogRegistryReader, LogRegistry)."""

from __future__ import annotations

import pytest

from ledger.errors import WriteConflictError
from ledger.store.log_registry import LogRow
from ledger.store.protocols import Store
from tests.store_contracts.backends import Backend


class LogRegistryContract(Backend):
    def test_log_1_alone_until_a_log_is_created(self, store: Store) -> None:
        assert store.registered_logs() == [] and store.mapped_tenants() == {}
        assert store.tenant_log("anyone") == 1
        assert not store.shares_tables()

    def test_logs_get_the_next_id_and_their_tenants(self, store: Store) -> None:
        assert store.create_log("a.example/log", "2026-01-01T00:00:00Z", ["t1", "t2"]) == 2
        assert store.create_log("b.example/log", "2026-01-02T00:00:00Z", []) == 3
        assert store.registered_logs() == [LogRow(2, "a.example/log", "2026-01-01T00:00:00Z"),
                                           LogRow(3, "b.example/log", "2026-01-02T00:00:00Z")]
        assert store.mapped_tenants() == {"t1": 2, "t2": 2}
        assert [store.tenant_log(t) for t in ("t1", "t2", "t3")] == [2, 2, 1]
        assert store.shares_tables()

    @pytest.mark.parametrize("origin, tenants", [("a.example/log", ["t9"]),
                                                 ("c.example/log", ["t8", "t1"])])
    def test_a_taken_origin_or_tenant_leaves_nothing(self, store: Store, origin: str,
                                                     tenants: list[str]) -> None:
        store.create_log("a.example/log", "t", ["t1"])
        with pytest.raises(WriteConflictError):
            store.create_log(origin, "t", tenants)
        assert [r.log_id for r in store.registered_logs()] == [2]
        assert store.mapped_tenants() == {"t1": 2}
