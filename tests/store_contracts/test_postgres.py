"""Every store contract on a real PostgreSQL database (under CI=true, a server that cannot be
reached fails these tests instead of skipping them)."""

from __future__ import annotations

from ledger.store.protocols import FAMILIES, Store
from tests.store_contracts.backends import PostgreSQL
from tests.store_contracts.contracts_attestations import AttestationsContract
from tests.store_contracts.contracts_evidence import EvidenceContract
from tests.store_contracts.contracts_keys import ApiKeysContract
from tests.store_contracts.contracts_log import (
    LogAuditContract,
    LogReaderContract,
    LogWriterContract,
)
from tests.store_contracts.contracts_log_registry import LogRegistryContract
from tests.store_contracts.contracts_projections import ProjectionsContract
from tests.store_contracts.contracts_vault import VaultContract


class TestLogWriter(PostgreSQL, LogWriterContract):
    def test_the_store_is_every_protocol(self, store: Store) -> None:
        assert isinstance(store, Store) and all(isinstance(store, p) for p in FAMILIES)


class TestLogReader(PostgreSQL, LogReaderContract):
    pass


class TestLogAudit(PostgreSQL, LogAuditContract):
    pass


class TestVault(PostgreSQL, VaultContract):
    pass


class TestEvidence(PostgreSQL, EvidenceContract):
    pass


class TestApiKeys(PostgreSQL, ApiKeysContract):
    pass


class TestProjections(PostgreSQL, ProjectionsContract):
    pass


class TestAttestations(PostgreSQL, AttestationsContract):
    pass


class TestLogRegistry(PostgreSQL, LogRegistryContract):
    pass
