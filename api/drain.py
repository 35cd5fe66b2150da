"""Waiting, at shutdown, for the worker threads that requests left behind.

A synchronous route runs in anyio's thread pool. When uvicorn's graceful shutdown runs out
(`--shutdown-timeout`) it cancels the request's task, but the thread goes on: it may still be
inside sqlite3 or psycopg. Closing the database pool under it (eventsourcing's pool closes the
connections in use too) frees a connection a thread is stepping through: the server died with
SIGSEGV after Ctrl-C under load (one fresh-clone CI run in three). So the lifespan waits for
the pool's threads to come back before it closes anything, and leaves the connections to the
process's exit if they do not.
"""

from __future__ import annotations

import logging
import time

import anyio
from anyio import to_thread

logger = logging.getLogger("temoin.api")


async def threads_idle(within: float, *, poll: float = 0.01) -> bool:
    """True once no thread of anyio's default pool is busy; False if some still are after
    `within` seconds (then the caller must not close what they may be using)."""
    limiter = to_thread.current_default_thread_limiter()
    deadline = time.monotonic() + within
    while limiter.borrowed_tokens:
        if time.monotonic() >= deadline:
            logger.warning(
                "%d request thread(s) still running %.1f s into shutdown; the database "
                "connections are left to the process's exit instead of being closed under them",
                limiter.borrowed_tokens, within,
            )
            return False
        await anyio.sleep(poll)
    return True
