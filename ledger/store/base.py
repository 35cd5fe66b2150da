"""Backend-independent half of the store: the Merkle tables and every query on them.

The SQLite and PostgreSQL recorders subclass eventsourcing's recorders and mix this in; they
supply only connections, placeholders and the few statements whose syntax differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from ledger.errors import StoreError
from ledger.merkle import (
    EMPTY_ROOT,
    NodeID,
    Plan,
    append_leaves,
    frontier_ids,
    leaf_hash,
    root_from_frontier,
)
from ledger.store.attestations import AttestationsMixin
from ledger.store.batch import AppendBatch
from ledger.store.evidence import EvidenceMixin, evidence_ddl
from ledger.store.keys import KeysMixin, keys_ddl
from ledger.store.log_registry import REGISTRY_DDL, LogRegistryMixin, of_this_log
from ledger.store.migrations import v4
from ledger.store.migrations.v1 import Dialect
from ledger.store.migrations.v2 import LOG_ONE, node_key, node_of_key
from ledger.store.migrations.v4 import ENTRY_BITS, ENTRY_MASK
from ledger.store.projection_tables import PROJECTION_DDL, ProjectionTablesMixin
from ledger.store.vault import VaultMixin


def _uuid(originator_id: Any) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: bytes
    signed_at: str


@dataclass(frozen=True, slots=True)
class LeafRow:
    index: int
    leaf_hash: bytes
    originator_id: str  # hex
    originator_version: int
    entry: bytes | None  # None when the event row is missing


class MerkleStore(
    KeysMixin, EvidenceMixin, VaultMixin, ProjectionTablesMixin, AttestationsMixin,
    LogRegistryMixin,
):
    """Queries on `<prefix>_leaves`, `<prefix>_nodes`, `<prefix>_checkpoints` and side tables."""

    prefix: str
    events_table_name: str
    # Which log of the tables this store reads and appends to (schema version 2 keys every log
    # table by it); an int, so that queries may carry it as a literal.
    log_id: int = LOG_ONE
    _head: tuple[int, list[bytes]] | None = None

    # -- supplied by the backend ----------------------------------------------------------
    def append_events(
        self, stored_events: Sequence[StoredEvent], batch: AppendBatch | None = None
    ) -> None:
        """Insert these events with their leaves, the tree's new nodes and `batch`'s side
        rows in one transaction; `batch` gets the leaf indices. The project's own append,
        called with the application's mapped events: eventsourcing's `insert_events` hook
        does the same without a batch."""
        raise NotImplementedError

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # eventsourcing's recorder hook (Application.save): an append without side rows.
        self.append_events(stored_events)
        return None

    if TYPE_CHECKING:  # eventsourcing's recorder supplies it (documented recorder API)
        def select_events(
            self, originator_id: Any, *, gt: int | None = None, lte: int | None = None,
            desc: bool = False, limit: int | None = None,
        ) -> Sequence[StoredEvent]: ...

    def _id_text(self, originator_id: Any) -> str:
        raise NotImplementedError

    # -- eventsourcing's application sequence, over our events table ------------------------
    # Notification id = leaf index + 1: this log's events, dense and in log order (the
    # events' own key), where eventsourcing's table numbered rows across every log.
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        base = self._entry_base - 1  # entry = base + notification id
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        sql = (f"SELECT entry - {base}, originator_id, originator_version, topic, state "
               f"FROM {self.events_table_name} WHERE entry >= ? AND entry < ?")
        params: list[Any] = [base + max(first, 1), self._entry_base + (1 << ENTRY_BITS)]
        if stop is not None:
            sql += " AND entry <= ?"
            params.append(base + stop)
        if topics:
            sql += f" AND topic IN ({','.join('?' * len(topics))})"
            params += list(topics)
        sql += " ORDER BY entry LIMIT ?"
        params.append(limit)
        return [Notification(id=r[0], originator_id=_uuid(r[1]), originator_version=r[2],
                             topic=r[3], state=bytes(r[4])) for r in self._query(sql, params)]

    def max_notification_id(self) -> int | None:
        size = self._max_index() + 1
        return size or None

    # -- several logs in the shared tables (ledger/store/log_registry.py) ---------------------
    # How a case id as hex text compares with a case id column (`<p>_cases.case_id`).
    _hex_id_cast: str = ""

    def shares_tables(self) -> bool:
        """Whether other logs than log 1 were ever created in this database."""
        return self.log_id != LOG_ONE or bool(self._query("SELECT 1 FROM logs LIMIT 1"))

    def _of_this_log(self, case_no_sql: str) -> str:
        """A condition keeping the case numbers of this log (and of none), or "" with one
        log: a case number carries its log (schema version 4)."""
        if not self.shares_tables():
            return ""
        return of_this_log(case_no_sql, self.log_id)

    # -- table names ----------------------------------------------------------------------
    @property
    def leaves_table(self) -> str:
        return f"{self.prefix}_leaves"

    @property
    def nodes_table(self) -> str:
        return f"{self.prefix}_nodes"

    @property
    def checkpoints_table(self) -> str:
        return f"{self.prefix}_checkpoints"

    @property
    def cases_table(self) -> str:
        return f"{self.prefix}_cases"

    @property
    def _entry_base(self) -> int:
        """This log's entry key of leaf 0: entry = _entry_base + leaf index."""
        return self.log_id << ENTRY_BITS

    def _leaf_join(self, e: str = "e", leaf: str = "l") -> str:
        """The ON clause from an event row to its leaf, in whichever log it is."""
        return (f"{leaf}.log_id = ({e}.entry >> {ENTRY_BITS}) "
                f"AND {leaf}.idx = ({e}.entry & {ENTRY_MASK})")

    def _event_join(self, leaf: str = "l", e: str = "e") -> str:
        """The ON clause from one of this log's leaves to its event."""
        return f"{e}.entry = {self._entry_base} + {leaf}.idx"

    # -- the append path (inside the writer's transaction) --------------------------------
    @staticmethod
    def _leaf_hashes(stored_events: Sequence[StoredEvent]) -> list[bytes]:
        return [leaf_hash(bytes(s.state)) for s in stored_events]

    def _tree_head(self, cur: Any) -> tuple[int, list[bytes]]:
        """Size and frontier, read under the writer lock; the cache saves the node reads."""
        size = self._max_index(cur) + 1
        if self._head is not None and self._head[0] == size:
            return self._head
        ids = frontier_ids(size)
        found = self._fetch_nodes(cur, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise StoreError(f"tree of size {size} lacks frontier node {missing[0]}")
        return size, [found[i] for i in ids]

    def _case_rows(self, size: int, stored_events: Sequence[StoredEvent],
                   ids: Sequence[Any]) -> list[tuple[Any, int]]:
        """(case id, case number) of the cases this append opens: a case's number is the
        entry key of its first event (version 1), so it needs no counter of its own. `ids`
        are the events' ids as the backend binds them."""
        base = self._entry_base + size
        return [(ids[i], base + i) for i, s in enumerate(stored_events)
                if s.originator_version == 1]

    def _merkle_rows(
        self, size: int, frontier: list[bytes], stored_events: Sequence[StoredEvent],
        leaves: list[bytes],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, bytes]], list[bytes]]:
        """Rows for the leaves (index, hash, id, version) and the nodes (log, key, hash)."""
        nodes, new_frontier = append_leaves(size, frontier, leaves)
        leaf_rows = [
            (size + i, h, s.originator_id, s.originator_version)
            for i, (s, h) in enumerate(zip(stored_events, leaves, strict=True))
        ]
        log = self.log_id
        node_rows = [(log, node_key(n.level, n.index), h) for n, h in nodes if n.level > 0]
        return leaf_rows, node_rows, new_frontier

    def _finish(self, batch: AppendBatch | None, size: int, count: int,
                frontier: list[bytes]) -> None:
        self._head = (size + count, frontier)
        if batch is not None:
            batch.indices = list(range(size, size + count))
            batch.tree_size = size + count

    # -- reads ----------------------------------------------------------------------------
    def _max_index(self, cur: Any = None) -> int:
        raise NotImplementedError

    def _fetch_nodes(self, cur: Any, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
        raise NotImplementedError

    def tree_size(self) -> int:
        return self._max_index() + 1

    def read_nodes(self, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
        return self._fetch_nodes(None, ids)

    def proof(self, plan: Plan) -> list[bytes]:
        """One round trip: fetch the O(log n) stored nodes a plan names, then fold them."""
        return plan.assemble(self.read_nodes(plan.node_ids()))

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        ids = frontier_ids(size)
        found = self.read_nodes(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise StoreError(f"no stored node {missing[0]} for a tree of size {size}")
        return root_from_frontier([found[i] for i in ids])

    def leaf(self, index: int) -> LeafRow | None:
        rows = self._query(
            f"SELECT l.idx, l.hash, l.originator_id, l.originator_version, e.state "
            f"FROM {self.leaves_table} l LEFT JOIN {self.events_table_name} e "
            f"ON {self._event_join()} "
            f"WHERE l.log_id = {self.log_id} AND l.idx = ?",
            (index,),
        )
        return self._leaf_row(rows[0]) if rows else None

    def _leaf_row(self, row: tuple[Any, ...]) -> LeafRow:
        return LeafRow(
            index=row[0],
            leaf_hash=bytes(row[1]),
            originator_id=self._id_text(row[2]),
            originator_version=row[3],
            entry=None if row[4] is None else bytes(row[4]),
        )

    def iter_leaves(self, start: int = 0, stop: int | None = None) -> Iterator[LeafRow]:
        """Leaves in index order joined with their entries (None where the event is gone)."""
        sql = (
            f"SELECT l.idx, l.hash, l.originator_id, l.originator_version, e.state "
            f"FROM {self.leaves_table} l LEFT JOIN {self.events_table_name} e "
            f"ON {self._event_join()} "
            f"WHERE l.log_id = {self.log_id} AND l.idx >= ?"
        )
        params: list[Any] = [start]
        if stop is not None:
            sql += " AND l.idx < ?"
            params.append(stop)
        sql += " ORDER BY l.idx"
        for row in self._stream(sql, params):
            yield self._leaf_row(row)

    def iter_leaf_tuples(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """`iter_leaves` without the per-row conversion, for whole-log scans: raw rows of
        (index, leaf hash, originator id as the driver gives it, version, entry or None)."""
        return self._stream(
            f"SELECT l.idx, l.hash, l.originator_id, l.originator_version, e.state "
            f"FROM {self.leaves_table} l LEFT JOIN {self.events_table_name} e "
            f"ON {self._event_join()} "
            f"WHERE l.log_id = {self.log_id} AND l.idx >= ? AND l.idx < ? ORDER BY l.idx",
            (start, 2**62 if stop is None else stop),
        )

    def case_leaves(self, originator_id: Any, below: int | None = None) -> list[LeafRow]:
        sql = (
            f"SELECT l.idx, l.hash, e.originator_id, e.originator_version, e.state "
            f"FROM {self.events_table_name} e LEFT JOIN {self.leaves_table} l "
            f"ON {self._leaf_join()} WHERE e.case_no = "
            f"(SELECT case_no FROM {self.cases_table} WHERE case_id = ?)"
        )
        params: list[Any] = [self._id_param(originator_id)]
        rows = self._query(sql + " ORDER BY e.originator_version", params)
        result = [
            LeafRow(
                index=-1 if r[0] is None else r[0],
                leaf_hash=b"" if r[1] is None else bytes(r[1]),
                originator_id=self._id_text(originator_id),
                originator_version=r[3] if r[3] is not None else 0,
                entry=bytes(r[4]),
            )
            for r in rows
        ]
        if below is not None:
            result = [r for r in result if 0 <= r.index < below]
        return result

    def _id_param(self, originator_id: Any) -> Any:
        return originator_id

    def existing_aggregates(self, originator_ids: Sequence[Any]) -> set[str]:
        """Which of these aggregates have at least one stored event (ids as hex)."""
        found: set[str] = set()
        for start in range(0, len(originator_ids), 500):
            chunk = originator_ids[start : start + 500]
            rows = self._query(
                f"SELECT case_id FROM {self.cases_table} "
                f"WHERE case_id IN ({','.join('?' * len(chunk))})",
                [self._id_param(i) for i in chunk],
            )
            found.update(self._id_text(r[0]) for r in rows)
        return found

    def events_of(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        """Every stored event of these aggregates, by aggregate then version: one query per
        500 aggregates instead of one per aggregate (retention loads thousands of cases)."""
        events: list[StoredEvent] = []
        for start in range(0, len(originator_ids), 500):
            chunk = originator_ids[start : start + 500]
            rows = self._query(
                f"SELECT e.originator_id, e.originator_version, e.topic, e.state "
                f"FROM {self.cases_table} c JOIN {self.events_table_name} e "
                f"ON e.case_no = c.case_no WHERE c.case_id IN ({','.join('?' * len(chunk))}) "
                f"ORDER BY c.case_id, e.originator_version",
                [self._id_param(i) for i in chunk],
            )
            events += [StoredEvent(_uuid(r[0]), r[1], r[2], bytes(r[3])) for r in rows]
        return events

    def iter_events_without_leaf(self) -> Iterator[tuple[str, int, bytes]]:
        sql = (
            f"SELECT e.originator_id, e.originator_version, e.state "
            f"FROM {self.events_table_name} e "
            f"LEFT JOIN {self.leaves_table} l ON {self._leaf_join()} WHERE l.idx IS NULL"
        )
        for row in self._stream(sql):
            yield self._id_text(row[0]), row[1], bytes(row[2])

    def iter_nodes_in_creation_order(self, size: int) -> Iterator[tuple[int, int, bytes]]:
        """Interior nodes of the tree of `size` leaves in the order appends create them: by
        last leaf, then level. Nodes that later appends created are left out, so that a log
        growing while it is verified is verified as it stood."""
        # The node key is that order: one range scan of the primary key.
        sql = (f"SELECT key, hash FROM {self.nodes_table} WHERE log_id = {self.log_id} "
               f"AND key < ? ORDER BY key")
        for key, h in self._stream(sql, ((size + 1) << 6,)):
            level, idx = node_of_key(key)
            yield level, idx, bytes(h)

    def count_events(self) -> int:
        return self._query(f"SELECT count(*) FROM {self.events_table_name}")[0][0]

    # -- checkpoints ----------------------------------------------------------------------
    def store_checkpoint(self, size: int, root: bytes, note: bytes, signed_at: str) -> None:
        self._execute(
            f"INSERT INTO {self.checkpoints_table} (log_id, size, root, note, signed_at) "
            f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (log_id, size) DO NOTHING",
            (self.log_id, size, root, note.decode("utf-8"), signed_at),
        )

    def _checkpoint(self, row: tuple[Any, ...]) -> StoredCheckpoint:
        return StoredCheckpoint(row[0], bytes(row[1]), row[2].encode("utf-8"), row[3])

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._query(
            f"SELECT size, root, note, signed_at FROM {self.checkpoints_table} "
            f"WHERE log_id = {self.log_id} ORDER BY size DESC LIMIT 1"
        )
        return self._checkpoint(rows[0]) if rows else None

    def checkpoint_count(self) -> int:
        return int(self._query(f"SELECT count(*) FROM {self.checkpoints_table} "
                               f"WHERE log_id = {self.log_id}")[0][0])

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        rows = self._query(
            f"SELECT size, root, note, signed_at FROM {self.checkpoints_table} "
            f"WHERE log_id = {self.log_id} AND size = ?",
            (size,),
        )
        return self._checkpoint(rows[0]) if rows else None

    def checkpoints(self, after: int = -1, limit: int | None = None) -> list[StoredCheckpoint]:
        sql = (
            f"SELECT size, root, note, signed_at FROM {self.checkpoints_table} "
            f"WHERE log_id = {self.log_id} AND size > ? ORDER BY size"
        )
        params: list[Any] = [after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._checkpoint(r) for r in self._query(sql, params)]

    # -- erasure --------------------------------------------------------------------------
    def erasure_entries(
        self, below: int, start: int = 0, limit: int = 2**62
    ) -> list[tuple[int, str, bytes]]:
        """(index, case id hex, entry bytes) of the PersonalDataErased entries with
        start <= index < below, at most `limit` of them, in index order."""
        # The events of this log in log order: one range of the events' own key.
        base = self._entry_base
        rows = self._query(
            f"SELECT l.idx, e.originator_id, e.state FROM {self.events_table_name} e "
            f"JOIN {self.leaves_table} l ON l.log_id = {self.log_id} AND l.idx = e.entry - {base} "
            f"WHERE e.entry >= ? AND e.entry < ? AND e.topic LIKE ? ORDER BY e.entry LIMIT ?",
            (base + start, base + below, "%:PersonalDataErased", limit),
        )
        return [(r[0], self._id_text(r[1]), bytes(r[2])) for r in rows]

    def iter_erasure_entries(
        self, below: int, page: int = 2000
    ) -> Iterator[tuple[int, str, bytes]]:
        """`erasure_entries` a page at a time: memory stays flat over 100,000 erasures, and
        the caller may query the store between rows."""
        start = 0
        while True:
            rows = self.erasure_entries(below, start, page)
            yield from rows
            if len(rows) < page:
                return
            start = rows[-1][0] + 1

    # -- shared DDL -----------------------------------------------------------------------
    def side_tables_ddl(self, dialect: Dialect) -> list[str]:
        """SQLite makes the tables that are looked up by their primary key only " WITHOUT
        ROWID", so that each is one B-tree, not a table plus its key index (one page fewer
        to write per table and per append, and a smaller file). The log tables (cases,
        events, leaves, nodes, checkpoints, attestations) and the vault are
        `migrations.v4`'s."""
        keyed = " WITHOUT ROWID" if dialect == "sqlite" else ""
        return [
            *v4.vault_ddl(dialect),
            evidence_ddl(keyed),
            *keys_ddl(keyed),
            *PROJECTION_DDL,
            *REGISTRY_DDL,
        ]


    # -- whole-log verification (read-only) -------------------------------------------------
    def audit_connect(self) -> tuple[str, dict[str, Any]] | None:
        """How another process opens its own read connection to this database, for the
        parallel verification (`ledger.audit_scan`): (dialect, connect arguments), or None
        when it cannot (an in-memory database)."""
        return None

    def audit_level(self, level: int, size: int) -> list[bytes]:
        """The stored node hashes of one level of the tree of `size` leaves, by index (the
        verifier's top levels); nodes of later appends are left out."""
        keys = [node_key(level, i) for i in range(size >> level)]
        found: dict[int, bytes] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found.update((r[0], bytes(r[1])) for r in self._query(
                f"SELECT key, hash FROM {self.nodes_table} WHERE log_id = {self.log_id} "
                f"AND key IN ({','.join('?' * len(chunk))})", chunk))
        # Stop at the first missing node, as the index-ordered scan of version 1 did.
        hashes = []
        for key in keys:
            if key not in found:
                break
            hashes.append(found[key])
        return hashes

    def nodes_beyond_leaves(self) -> list[tuple[int, int]]:
        """Stored nodes whose subtree reaches past the last stored leaf: no append made them
        (one query, so leaves and nodes are read in one snapshot). Such a node would also
        make the append that reaches it fail on its key."""
        log = self.log_id
        return sorted(node_of_key(r[0]) for r in self._query(
            f"SELECT key FROM {self.nodes_table} WHERE log_id = {log} AND key >= "
            f"(((SELECT COALESCE(MAX(idx), -1) + 1 FROM {self.leaves_table} "
            f"WHERE log_id = {log}) + 1) << 6)"
        ))

    def audit_node_count(self, size: int) -> int:
        """Stored interior nodes that belong to the tree of `size` leaves."""
        return self._query(
            f"SELECT count(*) FROM {self.nodes_table} WHERE log_id = {self.log_id} "
            f"AND key < ?", ((size + 1) << 6,)
        )[0][0]
