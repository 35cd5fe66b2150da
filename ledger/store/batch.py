"""What one group commit writes besides the stored events, and what it learns back."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SealedOpening:
    case_id: str  # hex of the case aggregate id
    case_seq: int
    field: str
    sealed: bytes


@dataclass(slots=True)
class AppendBatch:
    """Side rows committed in the same transaction as the events (DESIGN §4, §6).

    `indices` and `tree_size` are filled by the recorder once the transaction has committed.
    """

    case_keys: list[tuple[str, bytes]] = field(default_factory=list)
    openings: list[SealedOpening] = field(default_factory=list)
    idempotency: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    tree_size: int = 0
