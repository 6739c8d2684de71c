"""The read API's HTTP app: list the caller's named queries, run one, serve the OpenAPI document.

A call reads like the access model it enforces: who is calling (the JWT), which data source that
makes them (the access definition), may that data source run this query, are the parameters what the
query declares, then the rows, run as that data source's ClickHouse user. Every call, refused or
not, leaves one ``audit_log`` row (batched, :mod:`pulse.api.trail`).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from clickhouse_connect.driver.exceptions import ClickHouseError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pulse.access import audit
from pulse.access.definition import DEFINITION, AccessDefinition, Grantee, load
from pulse.api import metrics
from pulse.api.grants import Forbidden, check_query, data_source
from pulse.api.openapi import openapi_document
from pulse.api.tokens import Caller, IdpUnavailable, Unauthorized, Verifier, bearer
from pulse.api.trail import Trail, Writer, warehouse_writer
from pulse.api.warehouses import NoCredentials, Warehouses
from pulse.queries.params import ParamError
from pulse.queries.registry import NamedQuery, load_all
from pulse.queries.run import prepare
from pulse.settings import Settings
from pulse.web import JsonResponse, exposition

#: URL parameters the API reads itself; a named query's parameters are all the others.
FORMAT = "format"


class Rejected(Exception):
    """The call is refused with ``status``; ``parameter`` names the bad parameter of a 400."""

    def __init__(self, status: int, reason: str, parameter: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.parameter = parameter


@dataclass
class Call:
    """What one call's audit row says: who, as which data source, what, and how it ended."""

    action: str
    target: str = ""
    who: str = "anonymous"
    details: dict[str, Any] = field(default_factory=dict)

    def seen(self, caller: Caller) -> None:
        self.who = caller.subject
        self.details.update(roles=list(caller.roles), departments=list(caller.departments))

    def runs_as(self, grantee: Grantee) -> None:
        self.details.update(role=grantee.role, department=grantee.department, clickhouse_user=grantee.user)


@dataclass(frozen=True)
class Rows:
    columns: list[dict[str, str]]
    rows: list[tuple[Any, ...]]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns]


def _error(rejected: Rejected) -> Response:
    body: dict[str, Any] = {"error": rejected.reason}
    if rejected.parameter is not None:
        body["parameter"] = rejected.parameter
    return JsonResponse(body, status_code=rejected.status)


def _json(value: Any) -> Any:
    """What orjson does not know (Decimal, IP addresses) as its text."""
    return str(value)


def given_params(query: NamedQuery, request: Request) -> dict[str, str]:
    """The URL's values by parameter; an array may come as ``terms=a,b`` or as ``terms=a&terms=b``."""
    given: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name != FORMAT:
            given.setdefault(name, []).append(value)
    out: dict[str, str] = {}
    for name, values in given.items():
        param = query.params.get(name)
        if len(values) > 1 and not (param and param.type.startswith("Array(")):
            raise Rejected(400, f"parameter {name} is given {len(values)} times; it takes one value", name)
        out[name] = ",".join(values)
    return out


def wants_csv(request: Request) -> bool:
    fmt = request.query_params.get(FORMAT, "").lower()
    if fmt not in ("", "json", "csv"):
        raise Rejected(400, f"parameter format: {fmt!r} is not json or csv", FORMAT)
    return fmt == "csv" or (not fmt and "text/csv" in request.headers.get("accept", ""))


def csv_text(rows: Rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c["name"] for c in rows.columns])
    for row in rows.rows:
        writer.writerow(["" if v is None else v.isoformat() if hasattr(v, "isoformat") else v for v in row])
    return out.getvalue()


def describe(query: NamedQuery) -> dict[str, Any]:
    """A named query as ``GET /v1/queries`` lists it."""
    return {
        "name": query.name,
        "description": query.description,
        "unit": query.unit,
        "path": f"/v1/queries/{query.name}",
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "default": p.default,
                "choices": list(p.choices),
                "required": p.default is None,
                "description": p.description,
            }
            for p in query.params.values()
        ],
        "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in query.columns],
    }


class ReadApi:
    """Request handling, bound to the access definition, the IdP and the warehouse logins."""

    def __init__(
        self, settings: Settings, definition: AccessDefinition, verifier: Verifier, warehouses: Warehouses
    ) -> None:
        self.settings = settings
        self.definition = definition
        self.verifier = verifier
        self.warehouses = warehouses
        self.queries = load_all()

    async def authenticate(self, request: Request, call: Call) -> Caller:
        token = bearer(request.headers.get("authorization"))
        caller = await run_in_threadpool(self.verifier.verify, token)
        call.seen(caller)
        return caller

    def data_source(self, caller: Caller, call: Call) -> Grantee:
        grantee = data_source(self.definition, self.settings.api, caller)
        call.runs_as(grantee)
        return grantee

    async def list(self, request: Request, call: Call) -> Response:
        grantee = self.data_source(await self.authenticate(request, call), call)
        mine = [describe(self.queries[name]) for name in (*grantee.queries, *grantee.archive) if name in self.queries]
        call.details["queries"] = len(mine)
        source = {"role": grantee.role, "department": grantee.department, "clickhouse_user": grantee.user}
        return JsonResponse({"data_source": source, "queries": mine})

    async def run(self, request: Request, call: Call) -> Response:
        name = request.path_params["name"]
        call.target = name
        caller = await self.authenticate(request, call)
        if name not in self.queries:
            raise Rejected(404, f"no named query {name!r}: GET /v1/queries lists yours")
        grantee = self.data_source(caller, call)
        check_query(grantee, name)
        as_csv = wants_csv(request)
        given = given_params(self.queries[name], request)
        call.details["params"] = given
        try:
            query, values = prepare(name, given)
        except ParamError as error:
            raise Rejected(400, str(error), error.parameter) from error
        rows = await run_in_threadpool(self.execute, grantee.user, query, values)
        call.details["rows"] = len(rows.rows)
        if as_csv:
            return Response(csv_text(rows), media_type="text/csv; charset=utf-8")
        body = {
            "query": name,
            "columns": rows.columns,
            "rows": [dict(zip(rows.names, r, strict=True)) for r in rows.rows],
        }
        return Response(orjson.dumps(body, default=_json), media_type="application/json")

    def execute(self, user: str, query: NamedQuery, values: dict[str, object]) -> Rows:
        client = self.warehouses.client(user)
        try:
            result = client.query(query.sql, parameters=values)
        except ClickHouseError as error:
            text = str(error)
            if "ACCESS_DENIED" in text or "Code: 497" in text:
                raise Rejected(403, f"the warehouse refused {query.name} for {user}: {text}") from error
            raise Rejected(502, f"query {query.name} failed in the warehouse: {text}") from error
        columns = [{"name": n, "type": t.name} for n, t in zip(result.column_names, result.column_types, strict=True)]
        return Rows(columns, [tuple(row) for row in result.result_rows])


Handler = Callable[[Request, Call], Awaitable[Response]]


def create_app(
    settings: Settings,
    *,
    definition: AccessDefinition | None = None,
    verifier: Verifier | None = None,
    warehouses: Warehouses | None = None,
    audit_writer: Writer | None = None,
) -> Starlette:
    """The ASGI app; the audit trail's flusher starts with the app and writes what is left when it stops."""
    api = ReadApi(
        settings,
        definition or load(settings.api.definition or DEFINITION),
        verifier or Verifier(settings.api),
        warehouses or Warehouses(settings),
    )
    limits = settings.api
    trail = Trail(
        audit_writer or warehouse_writer(settings),
        flush_s=limits.audit_flush_s,
        batch_rows=limits.audit_batch_rows,
        max_buffered=limits.audit_max_buffered,
    )
    document = orjson.dumps(openapi_document())

    def endpoint(handler: Handler, name: str, action: str) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            call = Call(action)
            metrics.IN_FLIGHT.inc()
            try:
                response = await handler(request, call)
            except (Unauthorized, IdpUnavailable, Forbidden, NoCredentials, Rejected) as error:
                rejected = _rejection(error)
                call.details["error"] = rejected.reason
                response = _error(rejected)
            finally:
                metrics.IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            status = str(response.status_code)
            call.details.update(status=response.status_code, ms=round(elapsed * 1000, 1))
            trail.add(audit.entry(call.action, call.target, call.details, call.who))
            metrics.REQUESTS.labels(name, status).inc()
            if call.target:
                metrics.QUERIES.labels(call.target, status).inc()
            metrics.REQUEST_SECONDS.labels(name).observe(elapsed)
            return response

        return wrapped

    async def healthz(_: Request) -> Response:
        return JsonResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        reason = await run_in_threadpool(api.warehouses.unreachable)
        if reason is not None:
            return JsonResponse({"status": "unready", "reason": reason}, status_code=503)
        return JsonResponse({"status": "ok"})

    async def prometheus(_: Request) -> Response:
        body, media_type = exposition()
        return Response(body, media_type=media_type)

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        trail.start()
        try:
            yield
        finally:
            await trail.stop()

    routes = [
        Route("/v1/queries", endpoint(api.list, "queries", "api.queries")),
        Route("/v1/queries/{name}", endpoint(api.run, "query", "api.query")),
        Route("/v1/openapi.json", openapi),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.trail = trail
    return app


def _rejection(error: Exception) -> Rejected:
    if isinstance(error, Rejected):
        return error
    if isinstance(error, Unauthorized):
        return Rejected(401, str(error))
    if isinstance(error, Forbidden):
        return Rejected(403, str(error))
    return Rejected(503, str(error))  # the IdP's keys or a data source's password are missing
