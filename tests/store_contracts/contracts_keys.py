"""Contract of the API keys and Idempotency-Key records (ApiKeyReader, ApiKeys)."""

from __future__ import annotations

import json
from uuid import uuid4

from ledger.apikeys import authenticate, create_key
from ledger.store.batch import AppendBatch, IdempotencyRecord
from ledger.store.protocols import Store
from tests.conftest import RawDB
from tests.store_contracts.backends import Backend, Opener, append, stored


def _record(key: str, created_at: str, case: str) -> IdempotencyRecord:
    return IdempotencyRecord("t", key, f"hash-{key}", created_at, 0, 1, (case,),
                             lambda idx: json.dumps({"indices": idx}))


class ApiKeysContract(Backend):
    def test_keys_are_listed_per_tenant_and_revoked_once(self, store: Store) -> None:
        store.insert_api_key("key_000000000002", "h2", "admin", "t1", "[]", "2026-01-02")
        store.insert_api_key("key_000000000001", "h1", "lawyer", "t1", '["C"]', "2026-01-01")
        store.insert_api_key("key_000000000003", "h3", "auditor", "t2", "[]", "2026-01-01")
        assert store.api_key("key_000000000001") == ("h1", "lawyer", "t1", '["C"]', "2026-01-01")
        assert store.api_key("key_00000000000f") is None
        assert [k.id for k in store.list_api_keys("t1")] == ["key_000000000001",
                                                            "key_000000000002"]
        assert [k.id for k in store.list_api_keys()] == [
            "key_000000000001", "key_000000000003", "key_000000000002"]

        store.revoke_api_key("key_000000000001", "2026-02-01", "key_000000000002")
        store.revoke_api_key("key_000000000001", "2026-03-01", "cli")  # the first one stays
        assert store.api_key("key_000000000001") is None  # refused from now on
        row = store.api_key_row("key_000000000001")
        assert row is not None
        assert (row.role, row.tenant, row.cases, row.created_at, row.revoked_at,
                row.revoked_by) == ("lawyer", "t1", '["C"]', "2026-01-01", "2026-02-01",
                                    "key_000000000002")
        listed = store.list_api_keys("t1")[0]
        assert listed == row
        assert store.api_key_row("key_00000000000f") is None

    def test_a_database_from_before_revocations_gains_the_table(
        self, store: Store, open_store: Opener, raw_db: RawDB
    ) -> None:
        key_id, token = create_key(store, "admin", "shop-1")
        raw_db.execute("DROP TABLE api_key_revocations")
        reopened = open_store()  # as a server started on the old database would
        assert authenticate(reopened, token) is not None
        reopened.revoke_api_key(key_id, "2026-01-01T00:00:00.000000Z", "cli")
        assert authenticate(reopened, token) is None
        row = reopened.api_key_row(key_id)
        assert row is not None and (row.revoked_at, row.revoked_by) == (
            "2026-01-01T00:00:00.000000Z", "cli")

    def test_idempotency_records_are_purged_by_age(
        self, store: Store, raw_db: RawDB
    ) -> None:
        old, new = uuid4(), uuid4()
        append(store, [stored(old, 1, b"a")], AppendBatch(
            idempotency=[_record("k-old", "2026-01-01T00:00:00Z", old.hex)]))
        append(store, [stored(new, 1, b"b")], AppendBatch(
            idempotency=[_record("k-new", "2026-03-01T00:00:00Z", new.hex)]))
        assert store.idempotency_record("t", "k-old") == (
            "hash-k-old", '{"indices": [0]}', "2026-01-01T00:00:00Z")
        assert store.idempotency_record("other", "k-old") is None
        assert store.purge_idempotency("2026-02-01T00:00:00Z") == 1
        assert store.idempotency_record("t", "k-old") is None
        assert store.idempotency_record("t", "k-new") is not None
        # The purged record's case link goes with it.
        assert raw_db.query("SELECT key FROM idempotency_cases") == [("k-new",)]
        assert store.purge_idempotency("2026-02-01T00:00:00Z") == 0
