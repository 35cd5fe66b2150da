"""The store interface the project owns: what each caller may ask of a log's database.

`MerkleStore` (one class per backend, `ledger.store.sqlite` and `ledger.store.postgres`)
implements every Protocol here; callers name the smallest one they need, so that a reader
cannot write, the routes see no append path, and a new backend knows what it must provide. Every
public method of the store belongs to exactly one Protocol (tests/store_contracts/ checks it,
and runs one contract suite per Protocol on each backend).

Read-only Protocols end in `Reader`; the writing Protocol of a family extends its reader. The
combinations at the end add no method: they name what one caller needs from two families.
docs/STORAGE.md lists who uses which.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # eventsourcing and the merkle package are not needed to name the types
    from eventsourcing.persistence import StoredEvent

    from ledger.merkle import NodeID, Plan
    from ledger.store.attestations import Attestation, Kind
    from ledger.store.base import LeafRow, StoredCheckpoint
    from ledger.store.batch import AppendBatch
    from ledger.store.keys import KeyRow
    from ledger.store.log_registry import LogRow
    from ledger.store.projection_tables import CaseIndexRow, CaseQuery, TimelineRow


# -- the Merkle log -------------------------------------------------------------------------
@runtime_checkable
class LogReader(Protocol):
    """Leaves, nodes, proofs and signed checkpoints of one log, and the events behind them."""

    log_id: int  # which log of the shared tables (schema version 2, docs/STORAGE.md)

    def tree_size(self) -> int: ...

    def leaf(self, index: int) -> LeafRow | None: ...

    def iter_leaves(self, start: int = 0, stop: int | None = None) -> Iterator[LeafRow]: ...

    def iter_leaf_tuples(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[Any, ...]]: ...

    def case_leaves(self, originator_id: Any, below: int | None = None) -> list[LeafRow]: ...

    def read_nodes(self, ids: Sequence[NodeID]) -> dict[NodeID, bytes]: ...

    def proof(self, plan: Plan) -> list[bytes]: ...

    def root(self, size: int) -> bytes: ...

    def existing_aggregates(self, originator_ids: Sequence[Any]) -> set[str]: ...

    def events_of(self, originator_ids: Sequence[Any]) -> list[StoredEvent]: ...

    def count_events(self) -> int: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def checkpoint(self, size: int) -> StoredCheckpoint | None: ...

    def checkpoints(self, after: int = -1, limit: int | None = None) -> list[StoredCheckpoint]: ...

    def checkpoint_count(self) -> int: ...


@runtime_checkable
class LogWriter(Protocol):
    """The append path and the checkpoint record. `append_events` stores events, their leaves
    and nodes and the side rows of `batch` (an `AppendBatch`: vault keys, sealed openings,
    Idempotency-Key records, erasures) in one transaction, and fills in the batch's indices."""

    def append_events(
        self, stored_events: Sequence[StoredEvent], batch: AppendBatch | None = None
    ) -> None: ...

    def store_checkpoint(self, size: int, root: bytes, note: bytes, signed_at: str) -> None: ...


@runtime_checkable
class LogAudit(Protocol):
    """What `temoin verify` reads besides the log reader's queries: whole-table scans in
    creation order, and how its worker processes open their own connections."""

    events_table_name: str

    @property
    def leaves_table(self) -> str: ...

    @property
    def nodes_table(self) -> str: ...

    @property
    def checkpoints_table(self) -> str: ...

    @property
    def cases_table(self) -> str: ...

    def audit_connect(self) -> tuple[str, dict[str, Any]] | None: ...

    def audit_level(self, level: int, size: int) -> list[bytes]: ...

    def audit_node_count(self, size: int) -> int: ...

    def nodes_beyond_leaves(self) -> list[tuple[int, int]]: ...

    def iter_nodes_in_creation_order(self, size: int) -> Iterator[tuple[int, int, bytes]]: ...

    def iter_events_without_leaf(self) -> Iterator[tuple[str, int, bytes]]: ...


# -- the vault (wrapped case keys, sealed openings) and what erasures did to it ----------------
@runtime_checkable
class VaultReader(Protocol):
    def case_key(self, case_id: str) -> bytes | None: ...

    def sealed_openings(self, case_id: str) -> list[tuple[int, str, bytes]]: ...

    def wrapped_key_sample(self, limit: int = 3) -> list[tuple[str, bytes]]: ...

    def vault_counts(self) -> tuple[int, int]: ...

    def iter_openings_with_keys(
        self,
    ) -> Iterator[tuple[str, int, str, bytes, bytes | None]]: ...

    def openings_before(
        self, case_id: str, before_seq: int, fields: Sequence[str] | None
    ) -> list[tuple[int, str]]: ...

    def erasure_entries(
        self, below: int, start: int = 0, limit: int = 2**62
    ) -> list[tuple[int, str, bytes]]: ...

    def iter_erasure_entries(
        self, below: int, page: int = 2000
    ) -> Iterator[tuple[int, str, bytes]]: ...


@runtime_checkable
class Vault(VaultReader, Protocol):
    """Vault rows are written by the append (`LogWriter`); this only repairs old erasures."""

    def finish_erasure(
        self, case_id: str, before_seq: int, fields: Sequence[str] | None
    ) -> int: ...


# -- evidence uploads ----------------------------------------------------------------------
@runtime_checkable
class EvidenceReader(Protocol):
    def evidence(self, tenant: str, sha256: str) -> tuple[str, int] | None: ...

    def all_evidence(self) -> list[tuple[str, str, str, int]]: ...


@runtime_checkable
class Evidence(EvidenceReader, Protocol):
    def register_evidence(
        self, tenant: str, sha256: str, media_type: str, size: int, stored_at: str
    ) -> bool: ...


# -- API keys and Idempotency-Key records --------------------------------------------------
@runtime_checkable
class ApiKeyReader(Protocol):
    def api_key(self, key_id: str) -> tuple[str, str, str, str, str] | None: ...

    def api_key_row(self, key_id: str) -> KeyRow | None: ...

    def list_api_keys(self, tenant: str | None = None) -> list[KeyRow]: ...

    def idempotency_record(self, tenant: str, key: str) -> tuple[str, str, str] | None: ...


@runtime_checkable
class ApiKeys(ApiKeyReader, Protocol):
    """Idempotency records are written by the append (`LogWriter`); this purges old ones."""

    def insert_api_key(
        self, key_id: str, token_hash: str, role: str, tenant: str, cases: str, created_at: str
    ) -> None: ...

    def revoke_api_key(self, key_id: str, revoked_at: str, revoked_by: str) -> None: ...

    def purge_idempotency(self, before: str) -> int: ...


# -- read-side projections (case index, timeline rows) -------------------------------------
@runtime_checkable
class ProjectionReader(Protocol):
    def case_index(self, tenant: str, case: str) -> CaseIndexRow | None: ...

    def all_case_index(self) -> list[CaseIndexRow]: ...

    def timeline_rows(self, tenant: str, case: str, below: int | None = None) -> list[str]: ...

    def all_timeline_rows(self) -> list[tuple[int, str]]: ...

    def find_cases(self, q: CaseQuery) -> list[tuple[Any, ...]]: ...

    def case_tenants(self) -> list[str]: ...


@runtime_checkable
class Projections(ProjectionReader, Protocol):
    def projection_position(self, name: str) -> int: ...

    def save_projection(
        self, name: str, old: int, new: int, cases: Sequence[CaseIndexRow],
        timeline: Sequence[TimelineRow],
    ) -> bool: ...

    def reset_projections(self, name: str) -> None: ...


# -- what TSAs and witnesses said about checkpoints ----------------------------------------
@runtime_checkable
class AttestationReader(Protocol):
    def attestations(self, size: int, kind: Kind | None = None) -> list[Attestation]: ...

    def attestations_between(
        self, after: int, upto: int, kind: Kind | None = None
    ) -> list[Attestation]: ...

    def checkpoints_lacking(self, kind: Kind, signer: str, limit: int = 100) -> list[int]: ...


@runtime_checkable
class Attestations(AttestationReader, Protocol):
    def store_attestation(self, attestation: Attestation) -> None: ...


# -- the log registry (ledger/store/log_registry.py) ----------------------------------------
@runtime_checkable
class LogRegistryReader(Protocol):
    def registered_logs(self) -> list[LogRow]: ...

    def tenant_log(self, tenant: str) -> int: ...

    def mapped_tenants(self) -> dict[str, int]: ...

    def shares_tables(self) -> bool: ...


@runtime_checkable
class LogRegistry(LogRegistryReader, Protocol):
    def create_log(self, origin: str, created_at: str, tenants: Sequence[str]) -> int: ...


# -- combinations (no method of their own) -------------------------------------------------
@runtime_checkable
class Log(LogReader, LogWriter, Protocol):
    """A log read and appended to: what signs its checkpoints (ledger/signer_state)."""


@runtime_checkable
class AttestedLog(LogReader, Attestations, Protocol):
    """A log whose checkpoints are sent to TSAs and witnesses (api/timestamper, api/witnessing):
    the case log and the access journal alike."""


@runtime_checkable
class ProjectionSource(LogReader, Projections, Protocol):
    """What the projection runner reads (the log) and writes (its tables)."""


@runtime_checkable
class Store(LogWriter, LogReader, LogAudit, Vault, Evidence, ApiKeys, Projections, Attestations,
            LogRegistry, Protocol):
    """Everything: what a backend implements, and what only the ledger itself holds."""


# Every family, for the contract tests' "each method in exactly one Protocol" check.
FAMILIES: tuple[type, ...] = (
    LogReader, LogWriter, LogAudit, VaultReader, Vault, EvidenceReader, Evidence, ApiKeyReader,
    ApiKeys, ProjectionReader, Projections, AttestationReader, Attestations, LogRegistryReader,
    LogRegistry,
)
