"""Client threads appending to a real server until told to stop, keeping every answer.

Unlike scripts/torture.py's Workload, a request is sent once and never retried: a test that
stops the server checks what each request was told (2xx, 503, or no answer at all) against
what the log holds afterwards.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledger.config import Settings

OCCURRED_AT = "2025-03-04T19:41:27Z"  # in the past: accepted whenever the test runs


@dataclass
class Answer:
    """One request: the events it carried (each tagged) and what the server answered."""

    route: str  # "event" or "batch"
    cases: list[str]
    tags: list[str]
    status: int | None = None  # None: no answer (connection refused, reset or timed out)
    error: str | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def acked(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _event(type_: str, tag: str) -> dict[str, Any]:
    if type_ == "CaseOpened":
        data: dict[str, Any] = {"order_ref": tag, "merchant_id": "stop-test", "reason": "other"}
    else:
        data = {"challenge_id": tag, "channel": "sms", "attempt": 1, "reason": "wrong_code"}
    return {"type": type_, "occurred_at": OCCURRED_AT, "data": data}


class AppendLoad:
    """`clients` threads sending single-event appends and batches (2-8 events, across cases)."""

    def __init__(self, base_url: str, token: str, *, clients: int = 6, shared: int = 3,
                 seed: int = 0) -> None:
        self.base_url = base_url
        self.token = token
        self.clients = clients
        self.shared = [f"SHARED-{i}" for i in range(shared)]
        self.seed = seed
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(15, connect=2),
                            headers={"Authorization": f"Bearer {self.token}"})

    def start(self) -> None:
        with self._http() as http:
            for case in self.shared:
                answer = self._send(http, "event", [case], "CaseOpened")
                if not answer.acked:
                    raise RuntimeError(f"could not open {case}: {answer.status} {answer.body}")
        for n in range(self.clients):
            thread = threading.Thread(target=self._client, args=(n,), daemon=True,
                                      name=f"append-load-{n}")
            thread.start()
            self._threads.append(thread)

    def acked(self) -> int:
        with self._lock:
            return sum(a.acked for a in self.answers)

    def wait_for_acks(self, count: int, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acked() >= count:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop sending; the names of threads still waiting for an answer."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        return [t.name for t in self._threads if t.is_alive()]

    def _client(self, n: int) -> None:
        rng = random.Random(self.seed * 100 + n)
        own: str | None = None
        with self._http() as http:
            while not self._stop.is_set():
                if own is None:
                    case = f"C{n}-{uuid.uuid4().hex[:8]}"
                    if self._send(http, "event", [case], "CaseOpened").acked:
                        own = case
                    else:
                        time.sleep(0.02)  # refused: the server is stopping or gone
                    continue
                pool = [*self.shared, own]
                if rng.random() < 0.6:
                    answer = self._send(http, "event", [rng.choice(pool)], "OtpFailed")
                else:
                    cases = [rng.choice(pool) for _ in range(rng.randint(2, 8))]
                    answer = self._send(http, "batch", cases, "OtpFailed")
                if not answer.acked:
                    time.sleep(0.02)

    def _send(self, http: httpx.Client, route: str, cases: list[str], type_: str) -> Answer:
        key = uuid.uuid4().hex
        answer = Answer(route, cases, [f"{key}.{i}" for i in range(len(cases))])
        if route == "event":
            url, body = f"/v1/cases/{cases[0]}/events", _event(type_, answer.tags[0])
        else:
            url = "/v1/batches"
            body = {"events": [{"case": c, **_event(type_, t)}
                               for c, t in zip(cases, answer.tags, strict=True)]}
        with self._lock:
            self.answers.append(answer)
        try:
            resp = http.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            answer.error = repr(exc)
            return answer
        answer.body = resp.text[:500]
        answer.headers = dict(resp.headers)
        if 200 <= resp.status_code < 300:
            payload = resp.json()
            answer.receipts = payload["results"] if route == "batch" else [payload]
        answer.status = resp.status_code  # last: `acked` is read by other threads
        return answer


@dataclass
class LogCheck:
    acknowledged: int = 0  # acknowledged events found at their receipts' places
    problems: list[str] = field(default_factory=list)  # lost, misplaced, duplicated, unknown
    stored_unanswered: list[str] = field(default_factory=list)  # stored, but no 2xx was sent


def check_log(settings: Settings, answers: list[Answer]) -> LogCheck:
    """What the clients were told against what the log holds, read by a fresh Ledger on the
    database the server left. Every acknowledged event must be at its receipt's index, with
    its receipt's leaf hash, case and case_seq; every entry must come from a request sent, once.
    """
    import json

    from ledger.ledger import Ledger

    result = LogCheck()
    ledger = Ledger(settings)
    try:
        stored: dict[str, list[int]] = {}
        for index, _hash, _id, _version, raw in ledger.store.iter_leaf_tuples(0):
            data = json.loads(bytes(raw))["data"] if raw is not None else {}
            tag = data.get("challenge_id", data.get("order_ref"))
            stored.setdefault(str(tag), []).append(index)
        sent = {tag: answer for answer in answers for tag in answer.tags}
        for tag, indices in stored.items():
            if tag not in sent:
                result.problems.append(f"index {indices[0]}: entry {tag} that no client sent")
            elif len(indices) > 1:
                result.problems.append(f"event {tag} stored {len(indices)} times: {indices}")
            elif not sent[tag].acked:
                result.stored_unanswered.append(tag)
        for answer in answers:
            if not answer.acked:
                continue
            if len(answer.receipts) != len(answer.tags):
                result.problems.append(f"{answer.route}: {len(answer.receipts)} receipts for "
                                       f"{len(answer.tags)} events")
                continue
            for tag, case, receipt in zip(answer.tags, answer.cases, answer.receipts,
                                          strict=True):
                row = ledger.store.leaf(receipt["index"])
                if row is None or row.entry is None:
                    result.problems.append(f"acknowledged event {tag} (index "
                                           f"{receipt['index']}) is not in the log")
                    continue
                entry = json.loads(row.entry)
                found = entry["data"].get("challenge_id", entry["data"].get("order_ref"))
                if (row.leaf_hash.hex() != receipt["leaf_hash"] or found != tag
                        or entry["case"] != case or entry["case_seq"] != receipt["case_seq"]):
                    result.problems.append(f"index {receipt['index']} holds {found} "
                                           f"({row.leaf_hash.hex()}), the receipt of {tag} "
                                           f"says {receipt}")
                    continue
                result.acknowledged += 1
    finally:
        ledger.close()
    return result
