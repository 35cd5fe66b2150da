"""Counts the SQL statements and the wall time of a case's reads over HTTP (docs/PERFORMANCE.md,
"Reading a case").

    python -m scripts.measure_case_reads [--entries 50] [--database-url URL] [--runs 5]

Starts a real server (uvicorn on a free 127.0.0.1 port) on a new database, appends one case
of `--entries` events, a third of them with an evidence file, lets the checkpointer and the
projections catch up, then downloads the bundle, the JSON and PDF reports and the timeline
`--runs` times each. Every statement a request runs is counted by wrapping the store methods
that reach the database (`_query`, `_stream`, `_execute`, `_transaction`, `append_events`,
`select_events`), in the request's own context only: the background tasks (checkpointer,
projection follower) are not counted. Also runs unchanged on an older tree (PYTHONPATH), to
measure before a change.
"""

from __future__ import annotations

import argparse
import contextvars
import functools
import os
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.limits import Limits
from ledger.apikeys import create_key
from ledger.config import Settings
from ledger.store import postgres as _postgres  # noqa: F401  (defines a store class)
from ledger.store import sqlite as _sqlite  # noqa: F401  (defines a store class)
from ledger.store.base import MerkleStore

_COUNTING: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "counting", default=None)
# append_events is the project's append; insert_events is the same on an older tree.
_WRAPPED = ("_query", "_stream", "_execute", "_transaction", "append_events", "insert_events",
            "select_events")


def _count_calls() -> None:
    """Wrap the database methods of every concrete store class (the leaves of the class tree,
    so a method that calls its parent's is counted once): each call adds one to the counter
    of the request that runs it, named by the table family (log or access) and the method."""
    leaves = [c for c in _subclasses(MerkleStore) if not c.__subclasses__()]
    for cls in leaves:
        for name in _WRAPPED:
            method = getattr(cls, name, None)
            if method is None or getattr(method, "_counted", False):
                continue
            setattr(cls, name, _counted(name, method))


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _counted(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter = _COUNTING.get()
        if counter is not None:
            counter[f"{getattr(self, 'prefix', '?')}.{name}"] += 1
        return method(self, *args, **kwargs)

    wrapper._counted = True  # type: ignore[attr-defined]
    return wrapper


class _Counting:
    """ASGI wrapper: a GET under /v1/ runs with its own counter in its context (anyio carries
    the context into the worker threads the route uses)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last: Counter[str] = Counter()
        self.done = 0  # requests finished: the client may see the answer before we do

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET"
                or not scope["path"].startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        counter: Counter[str] = Counter()
        token = _COUNTING.set(counter)
        try:
            await self.app(scope, receive, send)
        finally:
            _COUNTING.reset(token)
            self.last = counter
            self.done += 1


def _serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str, _Counting, Any]:
    app = create_app(settings, limits=Limits())
    counting = _Counting(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(counting, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}", counting, app


def _load(client: httpx.Client, case: str, entries: int) -> None:
    def post(body: dict[str, Any]) -> None:
        r = client.post(f"/v1/cases/{case}/events", json=body)
        r.raise_for_status()

    post({"type": "CaseOpened", "occurred_at": "2026-01-05T09:00:00Z",
          "data": {"order_ref": "CMD-1", "merchant_id": "M-1", "reason": "non_delivery"},
          "personal": {"customer_name": "Jeanne Martin", "customer_email": "j@example.org"}})
    for i in range(1, entries):
        if i % 3 == 0:
            content = os.urandom(64) + b"photo %d" % i + bytes(60_000)
            r = client.post("/v1/evidence", content=content,
                            headers={"Content-Type": "image/jpeg"})
            r.raise_for_status()
            sha = r.json()["sha256"]
            post({"type": "DeliveryPhotoTaken", "occurred_at": "2026-01-06T10:00:00Z",
                  "data": {"parcel_id": f"P-{i}", "carrier": "colis", "photo_sha256": sha},
                  "evidence": [{"sha256": sha, "role": "photo"}]})
        else:
            post({"type": "GpsScanRecorded", "occurred_at": "2026-01-06T10:00:00Z",
                  "data": {"parcel_id": f"P-{i}", "carrier": "colis", "latitude": "48.85",
                           "longitude": "2.35", "accuracy_m": 5, "scan_code": f"S{i}"}})


def measure(database_url: str | None, entries: int, runs: int) -> dict[str, Any]:
    _count_calls()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = database_url or f"sqlite:///{data / 'temoin.db'}"
        settings = Settings(database_url=url, data_dir=data, origin="measure.example/log")
        server, thread, base, counting, app = _serve(settings)
        try:
            services = app.state.services
            _, token = create_key(services.ledger.store, "admin", "shop-1")
            client = httpx.Client(base_url=base, timeout=120,
                                  headers={"Authorization": f"Bearer {token}"})
            case = "CASE-MEASURE"
            _load(client, case, entries)
            client.post("/v1/log/checkpoint").raise_for_status()
            time.sleep(1.5)  # the projections follow within 0.5 s
            results: dict[str, Any] = {}
            for name, path, headers in (
                ("bundle", f"/v1/cases/{case}/bundle", {}),
                ("report JSON", f"/v1/cases/{case}/report", {}),
                ("report PDF", f"/v1/cases/{case}/report", {"Accept": "application/pdf"}),
                ("timeline", f"/v1/cases/{case}/timeline", {}),
            ):
                times, counts = [], []
                for _ in range(runs):
                    done = counting.done
                    start = time.perf_counter()
                    r = client.get(path, headers=headers)
                    times.append(time.perf_counter() - start)
                    r.raise_for_status()
                    while counting.done == done:
                        time.sleep(0.001)
                    counts.append(counting.last)
                results[name] = {"statements": sum(counts[-1].values()),
                                 "detail": dict(sorted(counts[-1].items())),
                                 "median_ms": round(statistics.median(times) * 1000, 1)}
            return results
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None,
                        help="postgresql://... (an empty database); default a new SQLite file")
    args = parser.parse_args()
    results = measure(args.database_url, args.entries, args.runs)
    for name, r in results.items():
        print(f"{name:12} {r['statements']:4d} statements  {r['median_ms']:8.1f} ms  "
              f"{r['detail']}")


if __name__ == "__main__":
    main()
