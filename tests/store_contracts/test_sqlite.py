"""Every store contract on a real SQLite file."""

from __future__ import annotations

from ledger.store.protocols import FAMILIES, Store
from tests.store_contracts.backends import SQLiteFile
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


class TestLogWriter(SQLiteFile, LogWriterContract):
    def test_the_store_is_every_protocol(self, store: Store) -> None:
        assert isinstance(store, Store) and all(isinstance(store, p) for p in FAMILIES)


class TestLogReader(SQLiteFile, LogReaderContract):
    pass


class TestLogAudit(SQLiteFile, LogAuditContract):
    pass


class TestVault(SQLiteFile, VaultContract):
    pass


class TestEvidence(SQLiteFile, EvidenceContract):
    pass


class TestApiKeys(SQLiteFile, ApiKeysContract):
    pass


class TestProjections(SQLiteFile, ProjectionsContract):
    pass


class TestAttestations(SQLiteFile, AttestationsContract):
    pass


class TestLogRegistry(SQLiteFile, LogRegistryContract):
    pass
