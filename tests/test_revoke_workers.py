"""A revoked key is refused at once by every worker of `temoin serve --workers 2`.

Each worker is its own process with its own memory: a per-process cache of verified tokens
would keep a revoked key working in the worker that had cached it. Every request here opens a
new connection, so the kernel spreads them over both workers; each worker's /metrics (its own
counters) then shows that both served the key before its revocation and refused it after.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from ledger.config import Settings
from tests.api_server import example
from tests.e2e import serving, temoin


def _key(settings: Settings, role: str) -> tuple[str, str]:
    out = temoin(settings, "keys", "create", "--role", role, "--tenant", "shop-1", "--json")
    created = json.loads(out.stdout)
    return str(created["id"]), str(created["token"])


def _once(base_url: str, method: str, path: str, token: str, **kwargs: object) -> int:
    # A new connection for each request: no keep-alive ties us to one worker.
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"Authorization": f"Bearer {token}", "Connection": "close"}) as c:
        return c.request(method, path, **kwargs).status_code  # type: ignore[arg-type]


_LATENCY = re.compile(r"^temoin_append_latency_seconds_sum (\S+)$", re.M)


def _count(metrics: str, method: str, route: str, status: int) -> int:
    labels = f'method="{method}",route="{route}",status="{status}"'
    found = re.search(rf"^temoin_http_requests_total\{{{re.escape(labels)}\}} (\d+)$", metrics,
                      re.M)
    return int(found.group(1)) if found else 0


def test_a_revoked_key_is_refused_at_once_by_both_workers(settings: Settings,
                                                          tmp_path: Path) -> None:
    admin_id, admin = _key(settings, "admin")
    with serving(settings, tmp_path / "serve.log", args=["--workers", "2"]) as served:
        url = served.base_url
        for round_ in range(3):
            victim_id, victim = _key(settings, "appender")
            _, bystander = _key(settings, "auditor")
            case = f"R-{round_}"
            assert _once(url, "POST", f"/v1/cases/{case}/events", victim,
                         json=example("CaseOpened")) == 201
            for _ in range(20):  # the victim is used (and would be cached) in both workers
                assert _once(url, "POST", f"/v1/cases/{case}/events", victim,
                             json=example("OtpFailed")) == 201
            assert _once(url, "DELETE", f"/v1/keys/{victim_id}", admin) == 204
            for _ in range(30):
                assert _once(url, "GET", "/v1/log/key", victim) == 401
                assert _once(url, "GET", "/v1/log/checkpoint", bystander) == 200
        # Revoked from the command line (another process) while both workers run: the same.
        cli_id, cli_token = _key(settings, "auditor")
        for _ in range(10):
            assert _once(url, "GET", "/v1/log/checkpoint", cli_token) == 200
        temoin(settings, "keys", "revoke", cli_id)
        for _ in range(20):
            assert _once(url, "GET", "/v1/log/checkpoint", cli_token) == 401
        assert _once(url, "GET", "/v1/keys", admin) == 200

        # Tell the workers apart by their own append latency sum, then check each of them.
        workers: dict[str, str] = {}
        for _ in range(60):
            with httpx.Client(base_url=url, headers={"Connection": "close"}) as c:
                text = c.get("/metrics").text
            latency = _LATENCY.search(text)
            assert latency is not None
            workers.setdefault(latency.group(1), text)
    assert len(workers) == 2, "the requests did not reach both workers"
    for text in workers.values():
        assert _count(text, "POST", "/v1/cases/{case}/events", 201) > 0
        assert _count(text, "GET", "/v1/log/key", 401) > 0
        assert _count(text, "GET", "/v1/log/key", 200) == 0
    listed = json.loads(temoin(settings, "keys", "list", "--json").stdout)
    assert [k["revoked_by"] for k in listed if k["revoked_at"]] == [admin_id] * 3 + ["cli"]
