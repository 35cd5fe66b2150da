"""Over HTTP, a tenant reaches only its own log (issue 14 "Many logs"): another log's entries,
checkpoints and cases are never visible, and a log made and written to before the server
started is served from where it stands (tests/test_api_many_logs.py: two logs at once)."""

from __future__ import annotations

from pathlib import Path

import httpx

from ledger.config import Settings
from ledger.events.examples import EXAMPLES
from ledger.logs import LogSet
from tests.e2e import admin_token, serving
from tests.helpers import request


def _opened(case: str) -> dict[str, object]:
    body = dict(EXAMPLES["CaseOpened"])
    body["data"] = {**body["data"], "order_ref": case}  # type: ignore[dict-item]
    return body


def test_another_logs_entries_are_never_visible(settings: Settings, tmp_path: Path) -> None:
    logs = LogSet(settings)
    try:
        logs.create("test.example/shop-2", ["shop-2"])
        for i in range(3):
            logs.for_tenant("shop-2").append([request(f"B-{i}", "CaseOpened", tenant="shop-2")])
        logs.ledger(2).sign_checkpoint()
    finally:
        logs.close()
    one, two = admin_token(settings, "shop-1"), admin_token(settings, "shop-2")
    with serving(settings, tmp_path / "serve.log") as served:
        with httpx.Client(base_url=served.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {one}"}) as c:
            r = c.post("/v1/cases/A-0/events", json=_opened("A-0"))
            assert r.status_code == 201 and r.json()["index"] == 0, r.text
            assert "\"A-0\"" in c.get("/v1/log/entries/0").json()["entry"]
            # Index 1 exists in log 2 only: not here.
            assert c.get("/v1/log/entries/1").status_code == 404
            assert c.get("/v1/cases/B-0").status_code == 404
            assert c.post("/v1/log/checkpoint").status_code in (200, 201)
            note = c.get("/v1/log/checkpoint").text
            assert note.startswith("test.example/log\n1\n"), note
        with httpx.Client(base_url=served.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {two}"}) as c:
            # Served from log 2, where its entries were appended before the server started.
            r = c.post("/v1/cases/B-9/events", json=_opened("B-9"))
            assert r.status_code == 201 and r.json()["index"] == 3, r.text
            assert c.get("/v1/cases/B-0").status_code == 200
            assert c.get("/v1/cases/A-0").status_code == 404
            assert '"shop-2"' in c.get("/v1/log/entries/0").json()["entry"]
            assert c.post("/v1/log/checkpoint").text.startswith("test.example/shop-2\n4\n")
    logs = LogSet(settings)
    try:
        # Nothing of shop-2 reached log 1, nothing of shop-1 log 2.
        assert (logs.ledger(1).tree_size(), logs.ledger(2).tree_size()) == (1, 4)
    finally:
        logs.close()
