"""Property-based fuzzing of the whole API from its live OpenAPI document (issue 3).

A real server (uvicorn on a socket, per backend) is seeded with a realistic log: every event
type, evidence uploaded, a closed and erased case, a batch, a signed checkpoint. Schemathesis
then loads `/openapi.json` over HTTP and fuzzes every operation in all its phases (the schema's
examples, coverage of boundaries and negative values, random schema-conforming and mutated
data, stateful sequences along inferred links), first with an admin key, then a few operations
with appender and lawyer keys so that the role paths run too. Required:

- no 5xx, for any request;
- every 4xx is application/problem+json with type, title, status and detail;
- the answers match the document (status codes, content types, response schemas), schema-valid
  requests are accepted (except the documented semantic 422s) and invalid ones refused;
- afterwards `temoin verify` finds the whole log (and the access journal) sound.

Each run is bounded in time (about 70 s per backend; TEMOIN_FUZZ_SCALE=N runs N times longer,
TEMOIN_FUZZ_SEED=random explores new inputs). The regression tests below pin what the fuzzing
found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs
import pytest

from ledger.config import Settings
from ledger.events.examples import EXAMPLE_CASE, EXAMPLES
from tests import fuzz_support
from tests.e2e import temoin

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    is_problem,
    running_server,
    upload_example_evidence,
)

pytest_plugins = ("tests.api_server",)

CLOSING = ("CaseClosed", "PersonalDataErased")
# Operations where API.md makes some schema-valid requests 422 for reasons a schema cannot
# state: evidence never uploaded, occurred_at more than 5 minutes ahead or not a real date, a
# tree size beyond the log, index >= size, from > to.
SEMANTIC_422 = frozenset({
    "appendEvent", "appendBatch", "getCaseTimeline", "getInclusionProof", "getConsistencyProof",
    # A cursor this service did not issue (or for other filters), opened_after >= opened_before.
    "listCases",
})
# Raw-bytes bodies (see fuzz_support.config).
RAW_BODY = frozenset({"uploadEvidence"})
# Role passes: what each role may do, and what it must be refused (403) or not see (404).
APPENDER_OPERATIONS = (
    "uploadEvidence", "appendEvent", "appendBatch", "signCheckpoint", "getCaseReport",
    "getEvidence", "getLogEntry", "createKey",
)
LAWYER_OPERATIONS = (
    "getCase", "listCaseEntries", "getCaseTimeline", "getCaseReport", "getCaseBundle",
    "getEvidence", "getLogEntry", "appendEvent", "createKey",
)


@dataclass
class Seeded:
    open_case: str
    closed_case: str
    batch_case: str
    evidence: dict[str, str]
    tree_size: int


def seed_log(server: ApiServer) -> Seeded:
    """A realistic log before the fuzzing: every event type, evidence files, a closed case."""
    open_case, closed_case, batch_case = EXAMPLE_CASE, "CMD-2025-004818", "CMD-2025-004819"
    with server.client() as c:
        evidence = upload_example_evidence(c)
        # The OpenAPI example case: open, so that fuzzed appends can still land on it.
        for type_ in EXAMPLES:
            if type_ not in CLOSING:
                r = c.post(f"/v1/cases/{open_case}/events", json=example(type_, evidence))
                assert r.status_code == 201, r.text
        # A case through its whole life, closed and its personal data erased.
        for type_ in EXAMPLES:
            r = c.post(f"/v1/cases/{closed_case}/events", json=example(type_, evidence))
            assert r.status_code == 201, r.text
        batch = [dict(example(t, evidence), case=batch_case)
                 for t in ("CaseOpened", "LetterSent", "RecipientNotified")]
        r = c.post("/v1/batches", json={"events": batch}, headers={"Idempotency-Key": "seed-1"})
        assert r.status_code == 201, r.text
        r = c.post("/v1/log/checkpoint")
        assert r.status_code == 200, r.text
        for path in (f"/v1/cases/{open_case}/report", f"/v1/cases/{closed_case}/bundle"):
            assert c.get(path).status_code == 200
    size = server.tree_size()
    assert size == 2 * len(EXAMPLES) - len(CLOSING) + len(batch)
    return Seeded(open_case, closed_case, batch_case, evidence, size)


def operation_ids(server: ApiServer) -> dict[str, str]:
    """operationId -> schemathesis label ("GET /v1/cases/{case}") of the live document."""
    with server.client("") as c:
        doc = c.get("/openapi.json").json()
    return {op["operationId"]: f"{method.upper()} {path}"
            for path, item in doc["paths"].items() for method, op in item.items()}


def test_fuzz_the_whole_api_then_the_log_verifies(settings: Settings) -> None:
    runs: list[fuzz_support.FuzzRun] = []
    with running_server(settings) as server:
        seeded = seed_log(server)
        operations = operation_ids(server)
        # The admin pass never revokes keys: revoking its own (which an admin may do) would
        # turn the rest of its run into 401s. A last pass, with an admin key of its own,
        # fuzzes revocation.
        admin = fuzz_support.run("admin", server.base_url, fuzz_support.config(
            server.admin_token, seconds=fuzz_support.budget(45), max_examples=25,
            semantic_422=SEMANTIC_422, raw_body=RAW_BODY, disabled={"revokeKey"},
        ))
        runs.append(admin)
        role_passes = (
            ("appender", server.new_key("appender"), APPENDER_OPERATIONS),
            ("lawyer", server.new_key("lawyer", cases=[seeded.open_case]), LAWYER_OPERATIONS),
        )
        for role, token, ops in role_passes:
            runs.append(fuzz_support.run(role, server.base_url, fuzz_support.config(
                token, seconds=fuzz_support.budget(10), max_examples=10,
                phases=("examples", "coverage", "fuzzing"), semantic_422=SEMANTIC_422,
                raw_body=RAW_BODY, disabled=set(operations) - set(ops),
            )))
        revoker = fuzz_support.run("revoker", server.base_url, fuzz_support.config(
            server.new_key("admin"), seconds=fuzz_support.budget(10), max_examples=10,
            phases=("examples", "coverage", "fuzzing"), semantic_422=SEMANTIC_422,
            raw_body=RAW_BODY, disabled=set(operations) - {"revokeKey", "listKeys"},
        ))
        runs.append(revoker)
        final_size = server.tree_size()
    for fuzzed in runs:
        print(fuzzed.summary())
    failures = [f"{r.name}: {f}" for r in runs for f in r.failures]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])

    # Every operation of the document was exercised, in each of the generating phases.
    for phase in ("coverage", "fuzzing"):
        missed = set(operations.values()) - admin.operations(phase) - {operations["revokeKey"]}
        assert not missed, f"{phase} phase did not reach {sorted(missed)}"
    revoked = set().union(*(revoker.operations(p) for p in fuzz_support.PHASES))
    assert operations["revokeKey"] in revoked, revoker.summary()
    assert admin.requests.total() > 300, admin.summary()
    for fuzzed, (_, _, ops) in zip(runs[1:-1], role_passes, strict=True):
        reached = set().union(*(fuzzed.operations(p) for p in fuzz_support.PHASES))
        assert reached == {operations[op] for op in ops}, fuzzed.summary()
        assert 403 in fuzzed.statuses, fuzzed.summary()  # the role paths did run
    assert final_size > seeded.tree_size, "the fuzzing appended nothing: a weak run"

    verified = temoin(settings, "verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Lines before the verdict may list erasures the fuzzing made (facts, not anomalies).
    lines = verified.stdout.splitlines()
    assert lines[-1].startswith("OK:"), verified.stdout
    assert all(" erased on " in line for line in lines[:-1]), verified.stdout
    assert f"log size {final_size:,}" in verified.stdout, verified.stdout


# -- regressions: what the fuzzing found ----------------------------------------------------

@pytest.fixture(scope="module")
def doc(sqlite_api: ApiServer) -> dict[str, Any]:
    with sqlite_api.client("") as c:
        return dict(c.get("/openapi.json").json())


def _parameter(doc: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    op = next(iter(doc["paths"][path].values()))
    return dict(next(p for p in op["parameters"] if p["name"] == name))


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def test_integer_parameters_publish_their_bounds(doc: dict[str, Any]) -> None:
    """Found: the log routes' bounds came out as pydantic's `ge`/`le` (not JSON Schema), so the
    document allowed `limit=-5` or a 38-digit index, which the server refused with 422."""
    assert not {"ge", "le", "gt", "lt"} & _keys(doc["paths"])
    bounds = {
        ("/v1/log/checkpoints", "after"): (-1, 2**63 - 1),
        ("/v1/log/checkpoints", "limit"): (1, 1000),
        ("/v1/log/entries/{index}", "index"): (0, 2**63 - 1),
        ("/v1/log/proofs/inclusion", "index"): (0, 2**63 - 1),
        ("/v1/log/proofs/inclusion", "size"): (0, 2**63 - 1),
        ("/v1/log/proofs/consistency", "from"): (0, 2**63 - 1),
        ("/v1/log/proofs/consistency", "to"): (0, 2**63 - 1),
    }
    for (path, name), (low, high) in bounds.items():
        schema = _parameter(doc, path, name)["schema"]
        assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", low, high)


def test_event_times_are_documented_as_date_time(doc: dict[str, Any]) -> None:
    """`occurred_at` had only a pattern, which allows month 00; as RFC 3339 `date-time` (like
    the time fields in `data`), generated events are real times and appends get through."""
    for name in ("CaseOpenedEvent", "RefundIssuedBatchEvent"):
        occurred_at = doc["components"]["schemas"][name]["properties"]["occurred_at"]
        assert occurred_at["format"] == "date-time" and occurred_at["pattern"]


def test_out_of_bounds_integers_are_still_refused(sqlite_api: ApiServer) -> None:
    with sqlite_api.client() as c:
        for url, name in (("/v1/log/checkpoints?limit=-5", "limit"),
                          ("/v1/log/checkpoints?limit=1.0", "limit"),
                          (f"/v1/log/entries/{2**63}", "index"),
                          ("/v1/log/proofs/consistency?from=-1&to=0", "from")):
            body = is_problem(c.get(url), 422)
            assert body["errors"][0]["loc"][-1] == name, body


def test_405_names_every_method_of_the_path(sqlite_api: ApiServer) -> None:
    """Found: `Allow` named only the first route's method; GET and POST /v1/log/checkpoint are
    two routes, so OPTIONS answered `Allow: GET`."""
    with sqlite_api.client() as c:
        for method, path, allowed in (
            ("OPTIONS", "/v1/log/checkpoint", "GET, POST"),
            ("DELETE", "/v1/log/checkpoint", "GET, POST"),
            ("PUT", "/v1/cases/C-1/events", "POST"),
            ("DELETE", "/v1/cases/C-1", "GET"),
            ("PATCH", "/v1/evidence", "POST"),
        ):
            r = c.request(method, path)
            is_problem(r, 405)
            assert r.headers["allow"] == allowed, (method, path)


def test_idempotency_key_is_documented_as_the_server_checks_it(
    sqlite_api: ApiServer, doc: dict[str, Any]
) -> None:
    """Found: the header was documented as any string, but an empty one is 422."""
    for path in ("/v1/cases/{case}/events", "/v1/batches"):
        schema = _parameter(doc, path, "Idempotency-Key")["schema"]
        valid = jsonschema_rs.validator_for(schema).is_valid
        assert schema["minLength"] == 1 and schema["maxLength"] == 255
        assert valid("a") and valid("9b2f7a3c-key with spaces") and valid("k" * 255)
        assert not valid("") and not valid("k" * 256) and not valid("clé")
    with sqlite_api.client() as c:
        r = c.post("/v1/batches", json={"events": []}, headers={"Idempotency-Key": ""})
        body = is_problem(r, 422)
        assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_key_request_schema_accepts_exactly_what_the_server_accepts(
    sqlite_api: ApiServer, doc: dict[str, Any]
) -> None:
    """Found: POST /v1/keys was documented with extra fields allowed, a nullable tenant and no
    lawyer/cases rule, so schema-valid bodies were refused (422)."""
    valid = jsonschema_rs.validator_for(doc["components"]["schemas"]["KeyRequest"]).is_valid
    bodies: list[tuple[dict[str, Any], int]] = [
        ({"role": "appender"}, 201),
        ({"role": "auditor", "tenant": sqlite_api.tenant}, 201),
        ({"role": "admin", "cases": None}, 201),
        ({"role": "appender", "cases": []}, 201),
        ({"role": "lawyer", "cases": ["C-1", "CMD-2025-004817"]}, 201),
        ({"role": "appender", "tenant": "another-shop"}, 403),
        ({"role": "lawyer"}, 422),
        ({"role": "lawyer", "cases": []}, 422),
        ({"role": "lawyer", "cases": ["bad case"]}, 422),
        ({"role": "auditor", "cases": ["C-1"]}, 422),
        ({"role": "appender", "extra": 1}, 422),
        ({"role": "appender", "tenant": None}, 422),
        ({"role": "appender", "tenant": ""}, 422),
        ({"role": "owner"}, 422),
        ({}, 422),
    ]
    with sqlite_api.client() as c:
        for body, status in bodies:
            r = c.post("/v1/keys", json=body)
            assert r.status_code == status, (body, r.text)
            assert valid(body) == (status != 422), body


def test_an_empty_evidence_file_is_outside_the_schema(
    sqlite_api: ApiServer, doc: dict[str, Any]
) -> None:
    """Found: the upload body was documented without a minimum length, yet an empty one is 422."""
    content = doc["paths"]["/v1/evidence"]["post"]["requestBody"]["content"]
    assert content["*/*"]["schema"]["minLength"] == 1
    with sqlite_api.client() as c:
        r = c.post("/v1/evidence", content=b"", headers={"Content-Type": "text/plain"})
        is_problem(r, 422)


def test_problem_errors_flags_what_is_not_a_problem() -> None:
    """The fuzzing's own oracle: it must tell a problem document from anything else."""
    good = (b'{"type":"https://temoin.dev/problems/not-found","title":"Not Found",'
            b'"status":404,"detail":"no such case","instance":"/v1/cases/x"}')
    problem = {"content-type": "application/problem+json"}
    assert fuzz_support.problem_errors(404, problem, good, "GET") == []
    assert fuzz_support.problem_errors(200, {"content-type": "text/plain"}, b"ok", "GET") == []
    assert fuzz_support.problem_errors(405, problem, b"", "HEAD") == []
    assert fuzz_support.problem_errors(404, {"content-type": "application/json"}, good, "GET")
    assert fuzz_support.problem_errors(500, problem, b"Internal Server Error", "GET")
    assert fuzz_support.problem_errors(409, problem, good, "GET")  # status differs
    assert fuzz_support.problem_errors(404, problem, b'{"detail":"x"}', "GET")
    response = httpx.Response(422, json={"type": "about:blank", "title": "x", "status": 422,
                                         "detail": "x"})
    assert fuzz_support.problem_errors(422, response.headers, response.content, "POST")
