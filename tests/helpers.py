"""Builders of realistic append requests for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.events.examples import EXAMPLES
from ledger.events.validate import validate_append
from ledger.ledger import AppendRequest

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def event(type_: str, **overrides: Any) -> Any:
    ex = dict(EXAMPLES[type_])
    ex.update(overrides)
    return validate_append(
        ex["type"], ex["occurred_at"], ex["data"], ex.get("personal"), ex.get("evidence"),
        now=datetime.now(UTC),
    )


def request(case: str, type_: str, *, tenant: str = "shop-1", source: str = "key-1",
            expected_seq: int | None = None, **overrides: Any) -> AppendRequest:
    return AppendRequest(tenant, source, case, event(type_, **overrides), expected_seq)


def no_evidence_types() -> list[str]:
    return [t for t, ex in EXAMPLES.items() if not ex.get("evidence")]
