"""Over HTTP, a tenant reaches only its own log (issue 14 "Many logs"): another log's entries,
checkpoints and cases are never visible, and a tenant on a log this server does not serve is
refused before any route runs, so nothing of it lands in the served log."""

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
            for method, path, body in [
                ("POST", "/v1/cases/B-9/events", _opened("B-9")),
                ("GET", "/v1/cases/B-0", None),
                ("GET", "/v1/log/checkpoint", None),
                ("GET", "/v1/log/entries/0", None),
            ]:
                r = c.request(method, path, json=body)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["type"].endswith("/log-not-served"), r.text
                assert "log 2" in r.json()["detail"]
    logs = LogSet(settings)
    try:
        # Nothing of shop-2 reached log 1; log 2 is as it was, and both verify.
        assert (logs.ledger(1).tree_size(), logs.ledger(2).tree_size()) == (1, 3)
    finally:
        logs.close()
