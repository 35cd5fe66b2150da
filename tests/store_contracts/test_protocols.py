"""The Protocols cover the store exactly: every public method of `MerkleStore` belongs to one
Protocol, and both backends provide every Protocol member with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from ledger.store.base import MerkleStore
from ledger.store.postgres import MerklePostgresRecorder
from ledger.store.protocols import FAMILIES, Store
from ledger.store.sqlite import MerkleSQLiteRecorder

# Schema construction, called by the backends' own table creation, and eventsourcing's
# recorder hooks (Application.save; the project appends through `append_events`; its
# application sequence, which schema v4's events table must answer): no caller's interface
# of ours.
BACKEND_HOOKS = {"side_tables_ddl", "insert_events", "select_notifications",
                 "max_notification_id"}
BACKENDS = [MerkleSQLiteRecorder, MerklePostgresRecorder]


def _members(protocol: type) -> set[str]:
    own = {n for n in vars(protocol) if not n.startswith("_")}
    return own | set(vars(protocol).get("__annotations__", {}))


def test_every_public_method_is_in_exactly_one_protocol() -> None:
    owners: dict[str, list[str]] = {}
    for protocol in FAMILIES:
        for name in _members(protocol):
            owners.setdefault(name, []).append(protocol.__name__)
    public = {n for n in dir(MerkleStore) if not n.startswith("_")} - BACKEND_HOOKS
    assert public - set(owners) == set(), "store methods no Protocol names"
    assert {n: o for n, o in owners.items() if len(o) > 1} == {}
    for backend in BACKENDS:
        assert set(owners) - {n for n in dir(backend) if not n.startswith("_")} == {
            "events_table_name"}  # an attribute eventsourcing's recorder sets in __init__


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
def test_backends_take_the_protocols_parameters(backend: type) -> None:
    for protocol in FAMILIES:
        for name in _members(protocol):
            declared = inspect.getattr_static(protocol, name, None)
            if not callable(declared):
                continue  # properties and attributes
            expected = list(inspect.signature(declared).parameters)
            found = list(inspect.signature(getattr(backend, name)).parameters)
            assert found == expected, f"{backend.__name__}.{name}"


def test_the_whole_store_protocol_is_every_family() -> None:
    assert set().union(*(_members(p) for p in FAMILIES)) == {
        n for p in Store.__mro__ if p not in (Store, object) and p.__name__ != "Protocol"
        and p.__name__ != "Generic" for n in _members(p)}
