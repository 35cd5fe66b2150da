"""The OpenAPI document covers API.md, and the service's configuration reads the environment."""

from __future__ import annotations

from typing import Any

import pytest

from api.limits import MIB, Limits
from ledger.config import ConfigError
from ledger.events.types import EVENT_TYPES

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer  # noqa: E402

pytest_plugins = ("tests.api_server",)

# Every route of API.md served by this service.
API_ROUTES = {
    ("post", "/v1/evidence"): "uploadEvidence",
    ("get", "/v1/evidence/{sha256}"): "getEvidence",
    ("post", "/v1/cases/{case}/events"): "appendEvent",
    ("post", "/v1/batches"): "appendBatch",
    ("get", "/v1/cases/{case}"): "getCase",
    ("get", "/v1/cases/{case}/entries"): "listCaseEntries",
    ("get", "/v1/cases/{case}/timeline"): "getCaseTimeline",
    ("get", "/v1/cases/{case}/report"): "getCaseReport",
    ("get", "/v1/cases/{case}/bundle"): "getCaseBundle",
    ("get", "/v1/log/key"): "getLogKey",
    ("get", "/v1/log/checkpoint"): "getCheckpoint",
    ("post", "/v1/log/checkpoint"): "signCheckpoint",
    ("get", "/v1/log/checkpoints"): "listCheckpoints",
    ("get", "/v1/log/entries/{index}"): "getLogEntry",
    ("get", "/v1/log/proofs/inclusion"): "getInclusionProof",
    ("get", "/v1/log/proofs/consistency"): "getConsistencyProof",
    ("post", "/v1/keys"): "createKey",
    # docs/API-ADDITIONS.md
    ("get", "/v1/cases"): "listCases",
    ("get", "/v1/keys"): "listKeys",
    ("delete", "/v1/keys/{key_id}"): "revokeKey",
    ("get", "/healthz"): "healthz",
    ("get", "/metrics"): "metrics",
}
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def doc(sqlite_api: ApiServer) -> dict[str, Any]:
    with sqlite_api.client("") as c:
        r = c.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def test_every_route_of_the_contract_is_documented(doc: dict[str, Any]) -> None:
    documented = {
        (method, path): op["operationId"]
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert documented == API_ROUTES


def test_every_failure_is_a_problem_and_v1_needs_a_bearer_key(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if code[0] in "45":
                    assert response["content"] == {
                        "application/problem+json": {"schema": PROBLEM}}, (method, path, code)
            if path.startswith("/v1/"):
                assert op["security"] == [{"HTTPBearer": []}], (method, path)
                assert "401" in responses, (method, path)


def test_request_bodies_are_documented(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        if "post" in item and path not in ("/v1/log/checkpoint",):
            body = item["post"]["requestBody"]
            for media in body["content"].values():
                if "$ref" in media["schema"]:
                    _resolve(doc, media["schema"]["$ref"])
    append = doc["paths"]["/v1/cases/{case}/events"]["post"]["requestBody"]["content"]
    assert set(append["application/json"]["examples"]) == set(EVENT_TYPES)
    union = doc["components"]["schemas"]["AppendEvent"]
    assert set(union["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(union["oneOf"]) == len(EVENT_TYPES)
    opened = _resolve(doc, union["discriminator"]["mapping"]["CaseOpened"])
    assert opened["properties"]["type"] == {"const": "CaseOpened"}
    assert set(opened["properties"]["data"]["required"]) == {"order_ref", "merchant_id", "reason"}
    assert opened["additionalProperties"] is False
    batch = _resolve(doc, "#/components/schemas/Batch")
    assert batch["properties"]["events"]["maxItems"] == 1000
    batch_event = _resolve(doc, doc["components"]["schemas"]["BatchEvent"]["oneOf"][0]["$ref"])
    assert "case" in batch_event["required"]


def test_limits_defaults_and_environment() -> None:
    assert Limits() == Limits.from_env({})
    assert (Limits().max_event_body, Limits().max_batch_body) == (65536, 8 * MIB)
    assert (Limits().max_batch_events, Limits().max_evidence) == (1000, 25 * MIB)
    assert Limits().rate_limit is None
    env = {"TEMOIN_MAX_EVENT_BODY": "1024", "TEMOIN_MAX_BATCH_BODY": "4096",
           "TEMOIN_MAX_BATCH_EVENTS": "10", "TEMOIN_MAX_EVIDENCE": "99",
           "TEMOIN_RATE_LIMIT": "2.5"}
    assert Limits.from_env(env) == Limits(1024, 4096, 10, 99, 2.5)
    assert Limits.from_env({"TEMOIN_RATE_LIMIT": "0"}).rate_limit is None
    assert Limits().bundle_disk_reserve == 256 * MIB
    assert Limits.from_env({"TEMOIN_BUNDLE_DISK_RESERVE": "1"}).bundle_disk_reserve == 1
    for name, value in (("TEMOIN_MAX_EVENT_BODY", "64k"), ("TEMOIN_MAX_BATCH_EVENTS", "0"),
                        ("TEMOIN_RATE_LIMIT", "-1"), ("TEMOIN_RATE_LIMIT", "nan"),
                        ("TEMOIN_BUNDLE_DISK_RESERVE", "1G")):
        with pytest.raises(ConfigError, match=name):
            Limits.from_env({name: value})
