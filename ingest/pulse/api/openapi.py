"""The read API's OpenAPI 3.1 document, generated from the named queries' headers.

Each named query gets its own path with its parameters typed as the header declares them, so a
client generator sees ``/v1/queries/engagement?by=country`` as a typed call. Served at
``/v1/openapi.json`` and kept as ``docs/api-openapi.json`` (``pulse api openapi --write``; a test
fails when the copy is stale). The collector's document is ``docs/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pulse.queries.registry import NamedQuery, Param, load_all

DOCUMENT = Path("docs/api-openapi.json")
_REF = "#/components/schemas/"


def type_schema(clickhouse_type: str) -> dict[str, Any]:
    """A ClickHouse parameter or column type as JSON Schema (times accept ISO-8601 or ``now-15m``)."""
    kind = (
        clickhouse_type.removeprefix("Nullable(").removesuffix(")")
        if "Nullable(" in clickhouse_type
        else clickhouse_type
    )
    if kind.startswith("Array("):
        return {"type": "array", "items": type_schema(kind[len("Array(") : -1])}
    if kind.startswith("DateTime"):
        return {"type": "string", "description": "ISO-8601 (naive means UTC) or now, now-15m, now+1d"}
    if kind == "Date":
        return {"type": "string", "format": "date"}
    if kind.startswith("UInt"):
        return {"type": "integer", "minimum": 0}
    if kind.startswith("Int"):
        return {"type": "integer"}
    if kind.startswith(("Float", "Decimal")):
        return {"type": "number"}
    return {"type": "string"}


def parameter(param: Param) -> dict[str, Any]:
    schema = type_schema(param.type)
    if param.choices:
        schema["enum"] = list(param.choices)
    if param.default is not None:
        schema["default"] = param.default.strip("'")
    spec: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "required": param.default is None,
        "description": f"{param.description} ({param.type})",
        "schema": schema,
    }
    if schema["type"] == "array":
        spec.update(style="form", explode=False)  # terms=a,b
    return spec


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}}}


def _operation(query: NamedQuery) -> dict[str, Any]:
    row = {
        "type": "object",
        "properties": {c.name: {**type_schema(c.type), "description": c.description} for c in query.columns},
    }
    ok = {
        "type": "object",
        "properties": {
            "query": {"const": query.name},
            "columns": {"type": "array", "items": {"$ref": _REF + "Column"}},
            "rows": {"type": "array", "items": row},
        },
        "required": ["query", "columns", "rows"],
    }
    fmt = {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "csv: the same as Accept: text/csv",
        "schema": {"type": "string", "enum": ["json", "csv"]},
    }
    return {
        "get": {
            "summary": query.description or query.name,
            "operationId": query.name,
            "parameters": [*(parameter(p) for p in query.params.values()), fmt],
            "responses": {
                "200": {
                    "description": f"the rows ({query.unit})" if query.unit else "the rows",
                    "content": {
                        "application/json": {"schema": ok},
                        "text/csv": {"schema": {"type": "string", "description": "a header line, then the rows"}},
                    },
                },
                "400": _error("a parameter is missing or invalid: `parameter` names it"),
                "401": _error("missing, malformed, expired or wrongly signed token"),
                "403": _error("the caller's role and department may not run this query: `error` says why"),
                "502": _error("the warehouse failed the query"),
                "503": _error("the IdP's keys or the warehouse credentials are unavailable"),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    queries = load_all()
    catalog = {
        "type": "object",
        "properties": {
            "data_source": {"type": "object", "description": "the caller's role, department and ClickHouse user"},
            "queries": {"type": "array", "items": {"type": "object"}},
        },
    }
    paths: dict[str, Any] = {
        "/v1/queries": {
            "get": {
                "summary": "The named queries the caller may run, with their parameters and columns",
                "operationId": "list_queries",
                "responses": {
                    "200": {
                        "description": "the caller's queries",
                        "content": {"application/json": {"schema": catalog}},
                    },
                    "401": _error("missing, malformed, expired or wrongly signed token"),
                    "403": _error("the token maps to no data source"),
                },
            }
        }
    }
    for name, query in queries.items():
        paths[f"/v1/queries/{name}"] = _operation(query)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pulse read API (named queries)",
            "version": "1",
            "description": "A JWT from the IdP as `Authorization: Bearer`; its role and department claims pick "
            "the ClickHouse user the query runs as (provisioning/access/access.yaml). docs/api.md.",
        },
        "servers": [{"url": "http://127.0.0.1:8090"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
                    "required": ["error"],
                },
                "Column": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
                    "required": ["name", "type"],
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
