"""A patient or a FHIR Bundle given to a tool: a JSON object or JSON text, read strictly and size-checked."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from mcrc import strictjson
from mcrc.errors import McrcError

# The REST API refuses request bodies over 1,000,000 bytes (`max_body_bytes`, docs/api.md); a tool argument holding
# a patient or a Bundle is held to the same size, counted as compact UTF-8 JSON.
MAX_INPUT_BYTES = 1_000_000
PATIENT_HINT = "the Patient schema: patient_schema"
BUNDLE_HINT = "a FHIR R4 Bundle"


def json_document(value: Any, what: str, schema_hint: str) -> Any:
    """A JSON object given either as an object or as JSON text, through the strict reader, size-checked.

    Free text (a string that is not JSON) is refused: a patient is a structured record."""
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_INPUT_BYTES:
            raise ToolError(f"{what} is {size:,} bytes; the limit is {MAX_INPUT_BYTES:,} bytes (the REST API's request "
                        "size limit)")
        if not value.lstrip().startswith(("{", "[")):
            raise ToolError(f"{what} must be a JSON object ({schema_hint}), not free text; mcrc does not read "
                        "narrative reports as a patient")
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        except (TypeError, ValueError) as exc:  # pragma: no cover - the transport hands over JSON values only
            raise ToolError(f"{what} is not JSON: {exc}") from None
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_INPUT_BYTES:
            raise ToolError(f"{what} is {size:,} bytes as JSON; the limit is {MAX_INPUT_BYTES:,} bytes (the REST API's "
                        "request size limit)")
    try:
        doc = strictjson.loads(text, max_bytes=MAX_INPUT_BYTES)
    except McrcError as exc:
        raise ToolError(f"{what}: {exc}") from None
    if not isinstance(doc, dict):
        raise ToolError(f"{what} must be a JSON object ({schema_hint}), got {_json_kind(doc)}")
    return doc


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")

