"""`temoin serve --workers 2`: two server processes, one log, every append accounted for."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from ledger.config import Settings
from tests.api_server import example
from tests.e2e import admin_token, serving, temoin


def test_two_workers_append_to_one_dense_log(settings: Settings, tmp_path: Path) -> None:
    token = admin_token(settings)
    log = tmp_path / "serve.log"
    with serving(settings, log, args=["--workers", "2"]) as served:
        def client(n: int) -> list[int]:
            with httpx.Client(base_url=served.base_url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                # A new connection per request, so both workers get some of them.
                out = []
                for i in range(5):
                    body = example("CaseOpened") if i == 0 else example("OtpFailed")
                    r = c.post(f"/v1/cases/W-{n}/events", json=body,
                               headers={"Connection": "close"})
                    assert r.status_code == 201, r.text
                    out.append(r.json()["index"])
                return out

        with ThreadPoolExecutor(8) as pool:
            indices = sorted(i for got in pool.map(client, range(16)) for i in got)
        assert indices == list(range(80))
        with httpx.Client(base_url=served.base_url,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.post("/v1/log/checkpoint").status_code == 200
    workers = {line.split("[")[1].split("]")[0] for line in log.read_text().splitlines()
               if "Started server process" in line}
    assert len(workers) == 2, log.read_text()[-2000:]
    out = temoin(settings, "verify", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
