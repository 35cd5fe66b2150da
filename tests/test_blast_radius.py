"""One failing request of a shared commit fails alone (issue 10, "blast radius").

64 requests share one group commit; one of them fails in a way that is no rule of the log:
its vault seal raises (while the commit is prepared), its per-request hook raises inside the
insert transaction, or its inserts keep conflicting until the retries run out. That request
gets its own error, naming it (500 problem, or 503 busy for the conflicts); the 63 others
commit, sharing transactions; the log verifies. Both backends; through a real HTTP server
(in-process, so that the fault can be injected) and through the Sequencer directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ledger.audit import verify_log
from ledger.domain import case_uuid
from ledger.errors import (
    BusyError,
    DatabaseUnavailableError,
    InternalAppendError,
    WriteConflictError,
)
from ledger.ledger import AppendGroup, Idempotency, Ledger, Receipt
from ledger.sequencer import Sequencer
from ledger.vault import CaseKey, VaultError
from tests.helpers import request

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, example, is_problem, new_case  # noqa: E402

pytest_plugins = ("tests.api_server",)

N = 64
POISON = 17  # which of the N requests fails


class CommitSpy:
    """Counts the ledger's group commits (how many groups each) and the store's insert
    transactions that committed, to show that the survivors really shared transactions."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commits: list[int] = []
        self.inserted: list[int] = []  # events per committed insert transaction
        self.failed_inserts = 0
        commit, insert = ledger.commit, ledger.store.append_events

        def spy_commit(groups: Any, **kw: Any) -> Any:
            self.commits.append(len(groups))
            return commit(groups, **kw)

        def spy_insert(events: Any, *args: Any) -> Any:
            try:
                result = insert(events, *args)
            except Exception:
                self.failed_inserts += 1
                raise
            self.inserted.append(len(events))
            return result

        monkeypatch.setattr(ledger, "commit", spy_commit)
        monkeypatch.setattr(ledger.store, "append_events", spy_insert)


def _verify(ledger: Ledger) -> None:
    report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master,
                        evidence_dir=ledger.settings.evidence_dir)
    assert report.ok, report.anomalies[:10]


def _poison_seal(monkeypatch: pytest.MonkeyPatch, tenant: str, case: str) -> None:
    """The vault fails to seal one case's personal data (VaultError, not a LedgerError)."""
    poisoned = case_uuid(tenant, case).hex
    seal = CaseKey.seal_opening

    def failing_seal(self: CaseKey, case_seq: int, field: str, opening: Any) -> bytes:
        if self.case_id == poisoned:
            raise VaultError(f"cannot seal {field} of case {self.case_id}: HSM unreachable")
        return seal(self, case_seq, field, opening)

    monkeypatch.setattr(CaseKey, "seal_opening", failing_seal)


# -- through the HTTP server ------------------------------------------------------------------

def _post_all(api: ApiServer, bodies: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=api.base_url, timeout=60,
            headers={"Authorization": f"Bearer {api.admin_token}"},
            limits=httpx.Limits(max_connections=N),
        ) as c:
            return list(await asyncio.gather(*(
                c.post(f"/v1/cases/{case}/events", json=body) for case, body in bodies
            )))

    return asyncio.run(send())


@pytest.fixture
def gathering(fresh_api: ApiServer) -> Iterator[ApiServer]:
    """The server's sequencer waits up to 3 s for company, so that the N concurrent requests
    land in one group commit whatever the machine's load (a lone caller waits 0 normally)."""
    sequencer = fresh_api.services.sequencer
    sequencer.max_wait = 3.0
    try:
        yield fresh_api
    finally:
        sequencer.max_wait = 0.0


def test_http_a_vault_failure_fails_only_its_request(
    gathering: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = gathering
    ledger = api.services.ledger
    cases = [new_case("BR") for _ in range(N)]
    _poison_seal(monkeypatch, api.tenant, cases[POISON])
    spy = CommitSpy(ledger, monkeypatch)
    size = api.tree_size()

    responses = _post_all(api, [(c, example("CaseOpened")) for c in cases])

    problem = is_problem(responses[POISON], 500)
    assert problem["type"].endswith("/internal-error")
    assert cases[POISON] in problem["detail"] and "VaultError" in problem["detail"]
    assert "HSM" not in problem["detail"]  # the cause stays in the server log
    others = [r for i, r in enumerate(responses) if i != POISON]
    assert [r.status_code for r in others] == [201] * (N - 1), [r.text for r in others][:3]
    # One group commit of all N requests, and the survivors in ONE insert transaction: the
    # failure was caught while preparing, before anything was sent to the database.
    assert spy.commits == [N], spy.commits
    assert spy.inserted == [N - 1] and spy.failed_inserts == 0
    assert api.tree_size() == size + N - 1
    assert {r.json()["case"] for r in others} == set(cases) - {cases[POISON]}
    # Nothing of the poisoned request: no event, no vault key.
    with httpx.Client(base_url=api.base_url,
                      headers={"Authorization": f"Bearer {api.admin_token}"}) as c:
        is_problem(c.get(f"/v1/cases/{cases[POISON]}"), 404)
    assert ledger.store.case_key(case_uuid(api.tenant, cases[POISON]).hex) is None
    _verify(ledger)


def test_http_conflicts_that_outlast_the_retries_fail_only_their_request(
    gathering: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inserts of one case keep failing on a unique key (what a writer racing this one on
    the same case does, forever here): that request gets 503 busy, the others commit."""
    api = gathering
    ledger = api.services.ledger
    cases = [new_case("BZ") for _ in range(N)]
    hot = case_uuid(api.tenant, cases[POISON])
    insert = ledger.store.append_events

    def conflicting_insert(events: Any, *args: Any) -> Any:
        if any(e.originator_id == hot for e in events):
            raise WriteConflictError("duplicate key value violates unique constraint (injected)")
        return insert(events, *args)

    monkeypatch.setattr(ledger.store, "append_events", conflicting_insert)
    spy = CommitSpy(ledger, monkeypatch)
    size = api.tree_size()

    responses = _post_all(api, [(c, example("CaseOpened")) for c in cases])

    problem = is_problem(responses[POISON], 503)
    assert problem["type"].endswith("/busy") and responses[POISON].headers["Retry-After"]
    assert [r.status_code for i, r in enumerate(responses) if i != POISON] == [201] * (N - 1)
    assert spy.commits == [N], spy.commits
    assert sum(spy.inserted) == N - 1
    print(f"busy request isolated: inserts committed {spy.inserted}, "
          f"failed {spy.failed_inserts}")
    # Found by halving: a handful of shared transactions, not one per survivor.
    assert len(spy.inserted) <= 2 * 6, spy.inserted
    assert api.tree_size() == size + N - 1
    _verify(ledger)


# -- through the Sequencer, in process ----------------------------------------------------------

def _submit_concurrently(seq: Sequencer, groups: list[AppendGroup]) -> list[Any]:
    """N threads submit at once (the sequencer gathers for up to its max_wait)."""
    results: list[Any] = [None] * len(groups)
    go = threading.Barrier(len(groups))

    def one(i: int) -> None:
        go.wait()
        results[i] = seq.submit(groups[i]).result(timeout=120)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(groups))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return results


def _render(fail: bool) -> Callable[[list[Receipt]], str]:
    def render(receipts: list[Receipt]) -> str:
        if fail:
            raise TypeError("Object of type Receipt is not JSON serializable (injected)")
        return f'{{"index":{receipts[0].index}}}'

    return render


def test_sequencer_a_failing_hook_inside_the_insert_is_isolated(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Idempotency-Key answer is rendered inside the insert transaction (it needs the
    indices): when one request's renderer raises, the whole insert rolls back; the ledger
    commits the halves separately, down to the one that fails alone."""
    ledger.append([request(f"S{i}", "CaseOpened") for i in range(N)])
    size = ledger.tree_size()
    transactions: list[int] = []
    spy = CommitSpy(ledger, monkeypatch)
    seq = Sequencer(ledger, max_wait=3.0,
                    on_commit=lambda events, _s: transactions.append(events))
    try:
        groups = [
            AppendGroup([request(f"S{i}", "OtpFailed")],
                        Idempotency("shop-1", f"key-{i}", f"hash-{i}", _render(i == POISON)))
            for i in range(N)
        ]
        results = _submit_concurrently(seq, groups)
    finally:
        seq.close()
    assert transactions == [N], transactions  # one group commit for all of them
    print(f"failing hook isolated: inserts committed {spy.inserted}, "
          f"failed {spy.failed_inserts}")
    assert len(spy.inserted) <= 2 * 6, spy.inserted
    error = results[POISON]
    assert isinstance(error, InternalAppendError), error
    assert "'S17'" in str(error) and "TypeError" in str(error) and error.ref in str(error)
    survivors = [r for i, r in enumerate(results) if i != POISON]
    assert all(isinstance(r, list) and len(r) == 1 for r in survivors), survivors[:3]
    assert ledger.tree_size() == size + N - 1
    # Dense: nothing of the failed attempts left a hole or a duplicate.
    assert sorted(r[0].index for r in survivors) == list(range(size, size + N - 1))
    assert ledger.store.idempotency_record("shop-1", f"key-{POISON}") is None
    for i in (0, POISON + 1, N - 1):
        stored = ledger.store.idempotency_record("shop-1", f"key-{i}")
        assert stored is not None and stored[0] == f"hash-{i}"
    _verify(ledger)


def test_sequencer_a_broken_store_fails_everyone_fast(ledger: Ledger,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """When every insert fails (no group to blame), halving stops after a bounded number of
    tries and each request gets the internal error, instead of trying 2n transactions."""
    ledger.append([request(f"B{i}", "CaseOpened") for i in range(N)])
    tries: list[int] = []

    def broken(events: Any, *args: Any) -> Any:
        tries.append(len(events))
        raise ValueError("broken store (injected)")

    monkeypatch.setattr(ledger.store, "append_events", broken)
    results = ledger.commit([AppendGroup([request(f"B{i}", "OtpFailed")]) for i in range(N)])
    assert all(isinstance(r, InternalAppendError) for r in results)
    assert len(tries) <= 4 * 6 + 4 + 1, len(tries)
    print(f"broken store: {len(tries)} tries for {N} requests")


def test_sequencer_a_busy_group_alone_gets_busy(ledger: Ledger,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    hot = case_uuid("shop-1", "HOT")
    insert = ledger.store.append_events

    def conflicting(events: Any, *args: Any) -> Any:
        if any(e.originator_id == hot for e in events):
            raise WriteConflictError("duplicate key (injected)")
        return insert(events, *args)

    monkeypatch.setattr(ledger.store, "append_events", conflicting)
    groups = [AppendGroup([request("HOT" if i == POISON else f"H{i}", "CaseOpened")])
              for i in range(N)]
    seq = Sequencer(ledger, max_wait=3.0)
    try:
        results = _submit_concurrently(seq, groups)
    finally:
        seq.close()
    assert isinstance(results[POISON], BusyError)
    assert all(isinstance(r, list) for i, r in enumerate(results) if i != POISON)
    assert ledger.tree_size() == N - 1
    _verify(ledger)


def test_the_database_failing_during_the_halving_keeps_the_committed_halves(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first half committed when the database fails for the second: the first half's
    callers get their receipts (an error would make them append again), the second half's
    a 503 busy; nothing is raised to fail them all."""
    poison, late = case_uuid("shop-1", "P"), case_uuid("shop-1", f"D{N - 1}")
    insert = ledger.store.append_events

    def failing(events: Any, *args: Any) -> Any:
        ids = {e.originator_id for e in events}
        if poison in ids:
            raise ValueError("poisoned (injected)")
        if late in ids:
            raise DatabaseUnavailableError("server closed the connection unexpectedly (injected)")
        return insert(events, *args)

    monkeypatch.setattr(ledger.store, "append_events", failing)
    groups = [AppendGroup([request("P" if i == 0 else f"D{i}", "CaseOpened")]) for i in range(N)]
    results = ledger.commit(groups)
    assert isinstance(results[0], InternalAppendError)
    committed = [r for r in results if isinstance(r, list)]
    busy = [r for r in results if isinstance(r, BusyError)]
    assert len(committed) + len(busy) == N - 1 and busy and committed
    assert isinstance(results[N - 1], BusyError)
    assert ledger.tree_size() == len(committed)
    assert sorted(r[0].index for r in committed) == list(range(len(committed)))
    _verify(ledger)
