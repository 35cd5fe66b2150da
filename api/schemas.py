"""Response models, and the request-body schemas published in the OpenAPI document.

Request bodies are parsed by `api.strict_json` and validated by `ledger.events`, never by these
models: the models only document. The event schemas are generated from the one table of event
types (`ledger.events.types.json_schema`), so the documentation cannot drift from validation.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, Field

from ledger.apikeys import MAX_LAWYER_CASES, ROLES
from ledger.events.clock import RFC3339_SCHEMA_PATTERN
from ledger.events.fields import CASE_ID, MAX_ROLE_LENGTH
from ledger.events.types import EVENT_TYPES, RETENTION_ONLY_FIELDS, json_schema

HEX64 = r"^[0-9a-f]{64}$"


# -- responses -----------------------------------------------------------------------------

class Receipt(BaseModel):
    case: str
    case_seq: int = Field(description="1-based position of the entry in its case")
    index: int = Field(description="Leaf index in the log; final, provable at once")
    leaf_hash: str = Field(pattern=HEX64, description="SHA-256(0x00 || entry), lowercase hex")
    recorded_at: str = Field(description="Ledger time of the append, RFC 3339 UTC")


class BatchResults(BaseModel):
    results: list[Receipt] = Field(description="One receipt per event, in request order")


class EvidenceInfo(BaseModel):
    sha256: str = Field(pattern=HEX64)
    size: int
    media_type: str


class CaseSummary(BaseModel):
    case: str
    tenant: str
    status: str = Field(description="`open` or `closed`")
    entries: int = Field(description="Number of entries of the case")
    last_seq: int = Field(description="case_seq of the last entry (use it as expected_seq)")
    opened_at: str
    closed_at: str | None = Field(default=None, description="Present once the case is closed")


class LogEntry(BaseModel):
    index: int
    leaf_hash: str = Field(pattern=HEX64)
    entry: str = Field(description="The verbatim stored entry (canonical JSON text)")


class CheckpointItem(BaseModel):
    size: int
    note: str = Field(description="The C2SP signed note")
    timestamps: list[str] = Field(
        default_factory=list,
        description="RFC 3161 time-stamp replies over SHA-256 of `note` (exactly as served), "
        "base64 of each DER TimeStampResp, one per TSA that has answered so far",
    )


class InclusionProof(BaseModel):
    index: int
    size: int
    leaf_hash: str = Field(pattern=HEX64)
    proof: list[str] = Field(description="RFC 9162 audit path, leaf to root, lowercase hex")


class ConsistencyProof(BaseModel):
    from_: int = Field(alias="from")
    to: int
    proof: list[str] = Field(description="RFC 9162 consistency proof, lowercase hex")


class KeyCreated(BaseModel):
    id: str = Field(description="Public key id, recorded as `source` in entries")
    token: str = Field(description="The secret bearer token; shown only once")
    role: str
    tenant: str
    cases: list[str] | None = None


class TsaHealth(BaseModel):
    tsa: str = Field(description="The TSA's URL (TEMOIN_TSA_URLS)")
    last_success: str | None = Field(description="When it last returned a valid token")
    last_error: str | None = Field(description="Its last failure, if any")
    last_error_at: str | None
    consecutive_failures: int = Field(description="Failures since its last success")
    retry_in_seconds: float = Field(description="Backoff before the next request")


class LogHealth(BaseModel):
    status: str = Field(description="`ok`, or `refusing`: the log's signer state forked "
                                    "(docs/TRUST.md); its tenants are answered 503")
    tree_size: int
    origin: str


class Health(BaseModel):
    status: str
    tree_size: int = Field(description="Entries in log 1, the deployment's")
    logs: dict[str, LogHealth] | None = Field(
        default=None,
        description="Every log this server has started, by id, once it serves more than "
                    "log 1 (docs/STORAGE.md \"Many logs\"); log 1 decides the status",
    )
    timestamps: list[TsaHealth] | None = Field(
        default=None,
        description="Each TSA's state, when TEMOIN_TSA_URLS is set; a failing TSA delays "
        "time-stamps, it is not an outage",
    )
    details: dict[str, Any] | None = Field(
        default=None,
        description="Background parts' state, only when configured: `witnessing` (with "
                    "TEMOIN_WITNESSES) gives per log (`log`, `access`; `log-N`, `access-N` "
                    "for log N) the quorum, the witnessed size and each witness's state",
    )


# -- request bodies --------------------------------------------------------------------------

def _strip_dialect(schema: dict[str, Any]) -> dict[str, Any]:
    # The schemas are draft 2020-12, which OpenAPI 3.1 uses anyway; a nested `$schema` only
    # confuses some tools.
    schema = copy.deepcopy(schema)
    schema.pop("$schema", None)
    return schema


EVIDENCE_REFERENCE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sha256": {"type": "string", "pattern": HEX64,
                   "description": "Hash of a file uploaded to POST /v1/evidence"},
        "role": {"type": "string", "maxLength": MAX_ROLE_LENGTH,
                 "description": "What the file is for the event, e.g. `document`, `photo`"},
    },
    "required": ["sha256", "role"],
    "additionalProperties": False,
}

def _key_request_variant(roles: list[str], cases: dict[str, Any], *,
                         cases_required: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "role": {"enum": roles},
            "tenant": {**CASE_ID.schema,
                       "description": "Defaults to the admin's tenant, and may only be that tenant "
                       "(another tenant: 403)"},
            "cases": cases,
        },
        "required": ["role", "cases"] if cases_required else ["role"],
        "additionalProperties": False,
    }


# Body of POST /v1/keys, as `ledger.apikeys.check_key_request` accepts it: a lawyer key names
# 1 to MAX_LAWYER_CASES cases, any other role none.
KEY_REQUEST: dict[str, Any] = {
    "title": "KeyRequest",
    "description": "Body of POST /v1/keys",
    "oneOf": [
        _key_request_variant(
            [r for r in ROLES if r != "lawyer"],
            {"anyOf": [{"type": "array", "maxItems": 0}, {"type": "null"}],
             "description": "Only lawyer keys are limited to cases"},
            cases_required=False,
        ),
        _key_request_variant(
            ["lawyer"],
            {"type": "array", "items": dict(CASE_ID.schema), "minItems": 1,
             "maxItems": MAX_LAWYER_CASES, "description": "The cases the lawyer key may read"},
            cases_required=True,
        ),
    ],
}

EXPECTED_SEQ: dict[str, Any] = {
    "type": "integer",
    "minimum": 0,
    "description": "Append only if the case's last case_seq equals this (0: the case must not "
    "exist yet); else 409",
}


def event_variant(type_name: str, *, with_case: bool) -> dict[str, Any]:
    event_type = EVENT_TYPES[type_name]
    schemas = json_schema(event_type)
    if type_name == "PersonalDataErased":
        # Written by `temoin retention apply` only, refused over HTTP (422): not part of the
        # HTTP contract.
        for name in RETENTION_ONLY_FIELDS:
            schemas["data"]["properties"].pop(name, None)
    properties: dict[str, Any] = {}
    if with_case:
        properties["case"] = dict(CASE_ID.schema)
    properties |= {
        "type": {"const": type_name},
        "occurred_at": {"type": "string", "format": "date-time", "pattern": RFC3339_SCHEMA_PATTERN,
                        "description": "RFC 3339 with Z or an offset; at most 5 minutes ahead"},
        "data": _strip_dialect(schemas["data"]),
        "personal": _strip_dialect(schemas["personal"]),
        "evidence": {"type": "array", "items": {"$ref": "#/components/schemas/EvidenceReference"},
                     "maxItems": 32},
        "expected_seq": EXPECTED_SEQ,
    }
    required = ["case", "type", "occurred_at", "data"] if with_case else [
        "type", "occurred_at", "data"]
    return {
        "title": type_name,
        "description": event_type.description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def body_schemas(max_batch_events: int) -> dict[str, Any]:
    """Components: one schema per event type (alone and in a batch) and the two unions."""
    components: dict[str, Any] = {"EvidenceReference": EVIDENCE_REFERENCE}
    single, batch = {}, {}
    for name in EVENT_TYPES:
        components[f"{name}Event"] = event_variant(name, with_case=False)
        components[f"{name}BatchEvent"] = event_variant(name, with_case=True)
        single[name] = f"#/components/schemas/{name}Event"
        batch[name] = f"#/components/schemas/{name}BatchEvent"
    components["AppendEvent"] = {
        "oneOf": [{"$ref": ref} for ref in single.values()],
        "discriminator": {"propertyName": "type", "mapping": single},
    }
    components["BatchEvent"] = {
        "oneOf": [{"$ref": ref} for ref in batch.values()],
        "discriminator": {"propertyName": "type", "mapping": batch},
    }
    components["Batch"] = {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/BatchEvent"},
                       "minItems": 1, "maxItems": max_batch_events},
        },
        "required": ["events"],
        "additionalProperties": False,
    }
    return components


def json_body(schema_name: str, description: str) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON request body that the route parses itself."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
            },
        }
    }
