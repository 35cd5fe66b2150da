"""`temoin serve` keeps the projections current from a child process, which never outlives it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from ledger.application import CaseLog
from ledger.config import Settings
from projections.runner import NAME
from tests.api_server import example
from tests.e2e import admin_token, serving
from tests.processes import alive as _alive
from tests.processes import children as _children
from tests.processes import spawned_children


def _position(settings: Settings) -> int:
    app = CaseLog(env=settings.persistence_env())
    try:
        return app.store.projection_position(NAME)
    finally:
        app.close()


def _wait(condition, timeout: float = 15) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_child_follows_the_log_and_dies_with_a_killed_server(
    settings: Settings, tmp_path: Path
) -> None:
    token = admin_token(settings)
    with serving(settings, tmp_path / "serve.log") as served, httpx.Client(
        base_url=served.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        assert _wait(lambda: len(_children(served.process.pid)) >= 1)
        children = _children(served.process.pid)
        for i in range(3):
            assert c.post(f"/v1/cases/PP-{i}/events", json=example("CaseOpened")).status_code == 201
            assert c.post(f"/v1/cases/PP-{i}/events", json=example("OtpFailed")).status_code == 201
        # Nothing else catches up after start-up: only the child can move the position.
        assert _wait(lambda: _position(settings) == 6), _position(settings)
        served.kill()  # SIGKILL: the server cannot tell its child anything
        assert _wait(lambda: not any(_alive(p) for p in children)), (
            f"follower processes {children} outlived the killed server"
        )


def test_a_stopped_server_stops_its_follower(settings: Settings, tmp_path: Path) -> None:
    with serving(settings, tmp_path / "serve.log") as served:
        assert _wait(lambda: len(_children(served.process.pid)) >= 1)
        children = _children(served.process.pid)
    # uvicorn re-raises SIGTERM once it has shut down cleanly: the log says it did.
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    # The follower was joined before the server exited; multiprocessing's resource tracker
    # leaves when the server's end of its pipe closes, a moment later.
    assert _wait(lambda: not any(_alive(p) for p in children)), children


def test_a_follower_killed_alone_comes_back_and_the_server_still_stops(
    settings: Settings, tmp_path: Path
) -> None:
    """SIGTERM to the child only: the server keeps serving, starts a new child, and a stop
    afterwards still ends promptly (a stop handshake with a child killed while waiting on it
    once blocked the server's shutdown for good)."""
    import os
    import signal
    import subprocess

    log = tmp_path / "serve.log"
    with serving(settings, log) as served:
        assert _wait(lambda: len(spawned_children(served.process.pid)) == 1)
        (first,) = spawned_children(served.process.pid)
        os.kill(first, signal.SIGTERM)
        assert _wait(lambda: not _alive(first))
        assert httpx.get(f"{served.base_url}/healthz", timeout=5).status_code == 200
        # Restarted after a pause (a signal usually means the whole server is stopping).
        assert _wait(lambda: any(p != first for p in spawned_children(served.process.pid)),
                     timeout=30)
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not stop: {log.read_text()[-2000:]}") from None
        assert time.monotonic() - started < 5
    text = log.read_text()
    # 143 (128 + SIGTERM) from its handler, -15 if it was still starting up.
    assert re.search(r"projection follower exited with code (143|-15); starting it again "
                     r"in 10 s", text), text[-2000:]
    assert "Application shutdown complete" in text and "Traceback" not in text
