"""Shutdown waits for request threads before closing the database (api/drain.py)."""

from __future__ import annotations

import threading
import time

import anyio
from anyio import to_thread

from api.drain import threads_idle


def test_waits_for_a_busy_pool_thread_and_says_when_it_gave_up() -> None:
    release = threading.Event()
    results: list[tuple[bool, float]] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(to_thread.run_sync, release.wait)
            await anyio.sleep(0.05)  # the thread has borrowed its token
            started = time.monotonic()
            results.append((await threads_idle(0.2), time.monotonic() - started))
            threading.Timer(0.3, release.set).start()
            started = time.monotonic()
            results.append((await threads_idle(5), time.monotonic() - started))

    anyio.run(main)
    (gave_up, waited), (idle, drained_after) = results
    assert gave_up is False and 0.2 <= waited < 1.0
    assert idle is True and 0.25 <= drained_after < 2.0


def test_an_idle_pool_is_idle_at_once() -> None:
    async def main() -> float:
        await to_thread.run_sync(time.sleep, 0.01)  # a thread that came back
        started = time.monotonic()
        assert await threads_idle(5)
        return time.monotonic() - started

    assert anyio.run(main) < 0.1
