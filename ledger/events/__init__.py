"""Event types of a dispute and the validation of an event before it is appended.

Pure: no I/O, no clock. See API.md "Event types and their fields" and DESIGN §2–§3.
"""

from ledger.events.clock import (
    format_rfc3339_utc,
    format_rfc3339_utc_minimal,
    normalise_rfc3339,
    parse_rfc3339,
)
from ledger.events.fields import Field
from ledger.events.types import EVENT_TYPES, EventType, json_schema
from ledger.events.validate import (
    FieldError,
    ValidationError,
    ValidEvent,
    validate_append,
    validate_case_id,
)

__all__ = [
    "EVENT_TYPES",
    "EventType",
    "Field",
    "FieldError",
    "ValidEvent",
    "ValidationError",
    "format_rfc3339_utc",
    "format_rfc3339_utc_minimal",
    "json_schema",
    "normalise_rfc3339",
    "parse_rfc3339",
    "validate_append",
    "validate_case_id",
]
