"""Schemathesis plumbing for tests/test_api_fuzz.py (property-based fuzzing of the whole API).

The run is schemathesis' own engine, the one behind `schemathesis run` (schemathesis 4.x:
`schemathesis.openapi.from_url` + `schemathesis.engine.from_schema(schema).execute()`), driven
from Python so that one pytest test can seed the log, fuzz a real HTTP server with every phase
(examples, coverage, fuzzing, stateful), then verify the log. Its events are boiled down to a
`FuzzRun`: what was sent, and every failure in a readable line.

Two layers look at every response:
- schemathesis' checks (all built-in ones: no 5xx, documented status codes, content types and
  schemas, positive data accepted, negative data rejected, auth not ignored, ...), plus
  `problem_details` below, registered as a custom check: reproducible failures with a curl line;
- `FuzzRun.add_scenario` re-reads every recorded interaction independently (no 5xx; every
  4xx/5xx is application/problem+json), so that nothing depends on a check being enabled.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder

from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Reproducible in CI; TEMOIN_FUZZ_SEED=<int> replays another run, "random" explores.
DEFAULT_SEED = 20250301


def seed() -> int | None:
    value = os.environ.get("TEMOIN_FUZZ_SEED", "").strip()
    if value.lower() == "random":
        return None
    return int(value) if value else DEFAULT_SEED


def budget(default: float) -> float:
    """Seconds for one fuzzing pass; TEMOIN_FUZZ_SCALE=N multiplies them (longer local runs)."""
    return default * float(os.environ.get("TEMOIN_FUZZ_SCALE", "1") or 1)


def problem_errors(status: int, headers: Mapping[str, Any], body: bytes, method: str
                   ) -> list[str]:
    """What is wrong with an error answer, against RFC 9457 as API.md uses it (empty: fine)."""
    if status < 400:
        return []
    found = []
    content_type = _header(headers, "content-type")
    if content_type != PROBLEM_MEDIA_TYPE:
        found.append(f"Content-Type is {content_type!r}, not {PROBLEM_MEDIA_TYPE}")
    if method.upper() == "HEAD":  # no body to look at
        return found
    try:
        problem = json.loads(body)
    except ValueError:
        return [*found, f"the body is not JSON: {body[:200]!r}"]
    if not isinstance(problem, dict):
        return [*found, f"the body is not a JSON object: {body[:200]!r}"]
    if not (isinstance(problem.get("type"), str) and problem["type"].startswith(PROBLEM_BASE)):
        found.append(f"type {problem.get('type')!r} is not a {PROBLEM_BASE}... URI")
    for name in ("title", "detail"):
        if not (isinstance(problem.get(name), str) and problem[name]):
            found.append(f"{name} is missing or empty")
    if problem.get("status") != status:
        found.append(f"status {problem.get('status')!r} differs from the HTTP status {status}")
    if "Traceback" in body.decode("utf-8", "replace"):
        found.append("the body carries a traceback")
    return found


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else str(value)
    return None


@schemathesis.check
def problem_details(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx/5xx answer is an RFC 9457 problem (API.md)."""
    errors = problem_errors(response.status_code, response.headers, response.content,
                            response.request.method or "GET")
    if errors:
        raise AssertionError(f"{response.status_code} is not a problem document: "
                             + "; ".join(errors))


@dataclass
class FuzzRun:
    """What one engine run sent and found."""

    name: str
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    scenarios: Counter[tuple[str, str]] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stop_reason: str = ""

    def add_scenario(self, phase: str, recorder: ScenarioRecorder) -> None:
        self.scenarios[(phase, recorder.label)] += 1
        for case_id, interaction in recorder.interactions.items():
            node = recorder.cases.get(case_id)
            label = node.value.operation.label if node is not None else recorder.label
            response = interaction.response
            if response is None:
                continue
            self.requests[(phase, label)] += 1
            self.statuses[response.status_code] += 1
            method = interaction.request.method
            where = f"{phase}: {method} {interaction.request.uri}"
            if response.status_code >= 500:
                self.failures.append(f"{where} -> {response.status_code}: "
                                     f"{response.content[:300]!r}")
            for error in problem_errors(response.status_code, response.headers,
                                        response.content, method):
                self.failures.append(f"{where} -> {response.status_code}: {error}")
        for case_id, checks in recorder.checks.items():
            for check in checks:
                info = check.failure_info
                if info is None:
                    continue
                node = recorder.cases.get(case_id)
                label = node.value.operation.label if node is not None else recorder.label
                steps = " | ".join(step.curl for step in info.steps) or info.code_sample
                self.failures.append(
                    f"{phase}: {label}: {check.name}: {info.failure.title}: "
                    f"{info.failure.message[:400]} [reproduce: {steps[:600]}]"
                )

    def operations(self, phase: str) -> set[str]:
        return {label for (p, label), n in self.requests.items() if p == phase and n}

    def summary(self) -> str:
        per_phase = Counter[str]()
        for (phase, _), n in self.requests.items():
            per_phase[phase] += n
        phases = ", ".join(f"{p} {per_phase[p]}" for p in PHASES if per_phase[p])
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (f"{self.name}: {sum(per_phase.values())} requests in {self.seconds:.1f} s "
                f"({phases}); statuses {statuses}; stopped: {self.stop_reason}")


def config(
    token: str,
    *,
    seconds: float,
    max_examples: int,
    phases: Iterable[str] = PHASES,
    semantic_422: Iterable[str] = (),
    raw_body: Iterable[str] = (),
    disabled: Iterable[str] = (),
    stateful_steps: int = 6,
) -> schemathesis.Config:
    """The run's configuration (the schemathesis.toml keys, as a dict).

    `semantic_422`: operation ids for which a schema-valid request may still be 422, because
    API.md makes it so for reasons no schema can express (an evidence hash never uploaded, a
    tree size beyond the log, a time more than 5 minutes ahead, index >= size, ...). Everywhere
    else a schema-valid request that gets 422 is a failure (the schema lies, or the server does).
    `raw_body`: operation ids whose body is raw bytes of any media type, where the only invalid
    body is an empty one (422). Schemathesis serializes its values in the media type it picked,
    so its negative "" can arrive as YAML `''` (not empty: accepted) and a positive value as an
    empty form body (refused): both data checks are loosened there; the rest still apply.
    `disabled`: operation ids never to call (an `[[operations]]` entry with `enabled = false`;
    `schema.include()` cannot narrow a schema whose config has `[[operations]]` entries, as the
    loader folds them into an include filter that matches every operation).
    """
    enabled = set(phases)
    data: dict[str, Any] = {
        "max-time": max(1, round(seconds)),
        "auth": {"openapi": {"HTTPBearer": {"bearer": token}}},
        "request-timeout": 30,
        "generation": {
            "mode": "all",  # schema-conforming and negative (mutated) data
            "max-examples": max_examples,
            "database": "none",  # no .hypothesis entries from a server-dependent run
        },
        "phases": {
            "examples": {"enabled": "examples" in enabled},
            "coverage": {"enabled": "coverage" in enabled},
            "fuzzing": {"enabled": "fuzzing" in enabled},
            "stateful": {"enabled": "stateful" in enabled, "max-steps": stateful_steps},
        },
        "checks": {"enabled": True},
        "suppress-health-check": ["all"],
    }
    found_seed = seed()
    if found_seed is not None:
        data["seed"] = found_seed
    operations: list[dict[str, Any]] = []
    positive_or_422 = {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}
    if semantic_422:
        operations.append({"include-operation-id": sorted(semantic_422),
                           "checks": {"positive_data_acceptance": positive_or_422}})
    if raw_body:
        operations.append({"include-operation-id": sorted(raw_body), "checks": {
            "positive_data_acceptance": positive_or_422,
            "negative_data_rejection": {"enabled": False},
        }})
    if disabled:
        operations.append({"include-operation-id": sorted(disabled), "enabled": False})
    if operations:
        data["operations"] = operations
    return schemathesis.Config.from_dict(data)


def run(name: str, base_url: str, cfg: schemathesis.Config) -> FuzzRun:
    """Load the live OpenAPI document and fuzz it over HTTP."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=cfg)
    result = FuzzRun(name)
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            result.add_scenario(str(event.phase.value), event.recorder)
        elif isinstance(event, events.NonFatalError):
            result.failures.append(f"error in {event.phase}: {event.label}: {event.info.title}: "
                                   f"{event.info.message[:400]}")
        elif isinstance(event, events.FatalError):
            result.failures.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = str(event.stop_reason.value)
            result.failures.extend(f"after run: {f.title}: {f.message[:400]}"
                                   for f in event.failures)
    result.seconds = time.monotonic() - started
    return result
