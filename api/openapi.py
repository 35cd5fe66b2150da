"""The OpenAPI document: FastAPI's, completed with what routes that parse their own bodies
cannot declare (event schemas, the problem schema) and cleaned of FastAPI's default
validation-error schema, which this API never sends."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.idempotency import MAX_LENGTH as IDEMPOTENCY_MAX_LENGTH
from api.problems import PROBLEM_MEDIA_TYPE, Problem
from api.schemas import KEY_REQUEST, body_schemas
from ledger.events.examples import EXAMPLES

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# What `api.idempotency.check_key` accepts once on the wire (HTTP drops a header value's outer
# white space); FastAPI alone can only say "a string or null".
_IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_MAX_LENGTH,
    "pattern": "^[!-~][ -~]*$",
}


def _model_schemas(*models: type[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def build_openapi(app: FastAPI, max_batch_events: int) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(_model_schemas(Problem))
    schemas["KeyRequest"] = copy.deepcopy(KEY_REQUEST)
    schemas.update(body_schemas(max_batch_events))
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"] == IDEMPOTENCY_HEADER:
                    parameter["schema"] = dict(_IDEMPOTENCY_KEY_SCHEMA)
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    # Every failure is a problem document, including FastAPI's automatic 422.
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": dict(_PROBLEM_REF)}}
                    if response.get("description") == "Validation Error":
                        response["description"] = "Invalid request; `errors` names each bad field"
    append = doc["paths"].get("/v1/cases/{case}/events", {}).get("post")
    if append is not None:
        content = append["requestBody"]["content"]["application/json"]
        content["examples"] = {
            name: {"summary": name, "value": copy.deepcopy(body)}
            for name, body in EXAMPLES.items()
        }
    return doc


def install_openapi(app: FastAPI, max_batch_events: int) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, max_batch_events)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
