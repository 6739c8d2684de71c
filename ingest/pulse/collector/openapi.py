"""The collector's OpenAPI 3.1 document, generated from the msgspec contract in ``pulse.contracts.segment``.

Served at ``/openapi.json`` and kept in the repository as ``docs/openapi.json`` (a test checks
that the two agree), so clients and fuzzers read the same contract the collector enforces.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pulse.contracts.segment import TRACK_PROPERTIES, BatchBody, Message, Traits

_REF = "#/components/schemas/"

_ERROR = {
    "type": "object",
    "properties": {"success": {"const": False}, "error": {"type": "string"}},
    "required": ["success", "error"],
}
_BATCH_RESULT = {
    "type": "object",
    "properties": {
        "success": {"const": True},
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer", "description": "events sent to the dead-letter topic"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "reason": {"type": "string"}},
            },
        },
    },
    "required": ["success", "accepted", "rejected", "errors"],
}


def _responses(ok: dict[str, Any]) -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}}}

    retry_after = {"Retry-After": {"schema": {"type": "integer"}}}
    return {
        "200": {"description": "every event acknowledged by Kafka", "content": {"application/json": {"schema": ok}}},
        "400": error("malformed body or (single calls) an invalid event; the reason names the field"),
        "401": error("missing, unknown or revoked write key"),
        "408": error("the body did not arrive within body_read_timeout_s"),
        "413": error("event over 32 KB or body over 500 KB"),
        "429": {
            **error("the write key's rate limit is exceeded, or too many unknown keys came from this address"),
            "headers": retry_after,
        },
        "431": error("request line and headers over max_header_bytes"),
        "503": {
            **error("Kafka unavailable, or the worker is at max_in_flight: nothing was accepted"),
            "headers": retry_after,
        },
    }


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF + ref}}}}


def openapi_document() -> dict[str, Any]:
    types = [BatchBody, Message, Traits, *TRACK_PROPERTIES.values()]
    _, components = msgspec.json.schema_components(types, ref_template=_REF + "{name}")
    components["Error"] = _ERROR
    components["BatchResult"] = _BATCH_RESULT
    ok_single = {"type": "object", "properties": {"success": {"const": True}}}
    paths: dict[str, Any] = {
        "/v1/batch": {
            "post": {
                "summary": "Send a batch of Segment messages; invalid ones are dead-lettered, the rest accepted",
                "operationId": "batch",
                "requestBody": _body("BatchBody"),
                "responses": _responses({"$ref": _REF + "BatchResult"}),
            }
        }
    }
    for call in ("track", "identify", "page", "screen", "group", "alias"):
        paths[f"/v1/{call}"] = {
            "post": {
                "summary": f"One {call} call (its type is implied by the path)",
                "operationId": call,
                "requestBody": _body("Message"),
                "responses": _responses(ok_single),
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pulse collector (Segment HTTP Tracking API)",
            "version": "1",
            "description": "Write key as the HTTP basic auth user name; bodies may be gzip. "
            "Track events and their required properties: see x-track-properties and docs/events.md.",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "security": [{"writeKey": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"writeKey": {"type": "http", "scheme": "basic"}},
        },
        "x-track-properties": {str(event): {"$ref": _REF + s.__name__} for event, s in TRACK_PROPERTIES.items()},
    }
