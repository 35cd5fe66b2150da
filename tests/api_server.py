"""A real Témoin HTTP server for tests: uvicorn on a free 127.0.0.1 port, in a thread.

Fixtures (load with `pytest_plugins = ("tests.api_server",)` in a test module, after
`pytest.register_assert_rewrite("tests.api_server")` and the import of the helpers):

- `api`: one server per test module and backend (SQLite, PostgreSQL), shared by the module's
  tests; tests keep apart by using their own case ids (`new_case()`), and check "nothing was
  stored" by comparing `tree_size()` before and after.
- `sqlite_api`: the same, SQLite only, for tests where the backend does not matter.
- `fresh_api`: a server per test on conftest's fresh `settings` (both backends), for tests that
  need an empty log.

`running_server()` is the building block for later end-to-end tests with other settings.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.deps import Services
from api.limits import Limits
from ledger.apikeys import create_key
from ledger.config import Settings
from ledger.events.examples import DEFECT_PHOTO, DELIVERY_PHOTO, EXAMPLES, LETTER_PDF, SIGNATURE_PNG
from tests.conftest import BACKENDS, pg_database

TENANT = "shop-1"
ORIGIN = "test.example/log"


@dataclass
class ApiServer:
    base_url: str
    admin_token: str
    tenant: str
    settings: Settings
    services: Services = field(repr=False)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client authenticated with `token` (default: the admin's; "" for none)."""
        token = self.admin_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    def new_key(self, role: str, tenant: str | None = None, cases: list[str] | None = None) -> str:
        """A token for a new key, created directly in the store."""
        return create_key(self.services.ledger.store, role, tenant or self.tenant, cases)[1]

    def tree_size(self) -> int:
        return self.services.ledger.tree_size()

    def count(self, table: str) -> int:
        rows = self.services.ledger.store._query(f"SELECT count(*) FROM {table}")
        return int(rows[0][0])


def new_case(prefix: str = "C") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# Stand-ins for the files the examples name, uploaded for real so that events can cite them.
_EXAMPLE_FILES = {
    LETTER_PDF: (b"%PDF-1.7\n% mise en demeure CMD-2025-004817\n", "application/pdf"),
    DELIVERY_PHOTO: (b"\xff\xd8\xff\xe0 photo livraison", "image/jpeg"),
    SIGNATURE_PNG: (b"\x89PNG\r\n\x1a\n signature", "image/png"),
    DEFECT_PHOTO: (b"\xff\xd8\xff\xe0 photo defaut", "image/jpeg"),
}


def upload_example_evidence(client: httpx.Client) -> dict[str, str]:
    """Upload a file for each evidence hash of the examples; map example hash -> real hash."""
    mapping = {}
    for example_hash, (content, media_type) in _EXAMPLE_FILES.items():
        r = client.post("/v1/evidence", content=content, headers={"Content-Type": media_type})
        assert r.status_code in (200, 201), r.text
        mapping[example_hash] = r.json()["sha256"]
    return mapping


def example(
    type_: str, uploaded: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A valid body of `type_` (from ledger.events.examples), citing the `uploaded` files
    (from `upload_example_evidence`); keyword arguments replace top-level fields."""
    text = json.dumps(EXAMPLES[type_])
    for old, new in (uploaded or {}).items():
        text = text.replace(old, new)
    body: dict[str, Any] = json.loads(text)
    body.update(overrides)
    return body


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 answer with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://temoin.dev/problems/")
    assert body["title"] and body["detail"] and body["instance"] == response.request.url.path
    assert "Traceback" not in response.text
    return body


@contextmanager
def running_server(
    settings: Settings, limits: Limits | None = None, *, tenant: str = TENANT
) -> Iterator[ApiServer]:
    """Serve `create_app(settings, limits)` until the block ends; yields the server's handle."""
    app = create_app(settings, limits=limits or Limits())
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and with Nagle on every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Bound here and handed to uvicorn: no window in which another process could take the port.
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="temoin-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start; see the log above")
        time.sleep(0.01)
    try:
        services: Services = app.state.services
        _, token = create_key(services.ledger.store, "admin", tenant)
        yield ApiServer(f"http://127.0.0.1:{port}", token, tenant, settings, services)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _settings(backend: str, directory: Path) -> Iterator[Settings]:
    if backend == "sqlite":
        yield Settings(database_url=f"sqlite:///{directory / 'temoin.db'}",
                       data_dir=directory / "data", origin=ORIGIN)
    else:
        with pg_database() as url:
            yield Settings(database_url=url, data_dir=directory / "data", origin=ORIGIN)


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiServer]:
    directory = tmp_path_factory.mktemp(f"api-{request.param}")
    for settings in _settings(request.param, directory):
        with running_server(settings) as server:
            yield server


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    for settings in _settings("sqlite", tmp_path_factory.mktemp("api-sqlite")):
        with running_server(settings) as server:
            yield server


@pytest.fixture
def fresh_api(settings: Settings) -> Iterator[ApiServer]:
    with running_server(settings) as server:
        yield server
