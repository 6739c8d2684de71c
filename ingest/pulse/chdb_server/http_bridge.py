"""ClickHouse's HTTP interface in front of the in-process chDB engine.

Only the subset that clickhouse-connect, Grafana's ClickHouse datasource and a person with
curl use: queries by GET/POST, ``default_format``, ``database``, ``param_*``, settings as
URL parameters, INSERT with data in the body (any input format, any Content-Encoding the
clients send), ClickHouse-style errors and headers. The stdlib threading server is
enough: every request thread blocks in chDB, which releases the GIL, so an event loop
would only add a thread-pool hop.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pulse.chdb_server.bodyio import BodyError, decoded, framed_body
from pulse.chdb_server.engine import Engine, EngineError, Statement, quote_string
from pulse.chdb_server.query_log import with_user_agent
from pulse.chdb_server.server_metrics import ServerMetrics
from pulse.warehouse.sqltext import NeedMore, insert_shape, leading_keyword

log = logging.getLogger(__name__)

MAX_SQL_BYTES = 256 << 20

# URL parameters the HTTP layer itself consumes: never forwarded to the engine as settings.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "quota_key",
        "user",
        "password",
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_wait_end_of_query",
        "http_response_buffer_size",
        "http_native_compression_disable_checksumming_on_decompress",
        "add_http_cors_header",
    }
)

# As in ClickHouse's exceptionCodeToHTTPStatus: client mistakes are 4xx, the rest 500.
_STATUS_BY_NAME: dict[str, int] = {
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "ACCESS_DENIED"), 403),
    **dict.fromkeys(
        (
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503,
    "ABORTED": 503,
    "TOO_MANY_SIMULTANEOUS_QUERIES": 503,  # shed load: the client may retry, unlike a 500
}


def http_status(error: EngineError) -> int:
    return _STATUS_BY_NAME.get(error.name, 500)


def content_type(fmt: str | None) -> str:
    if fmt is None:
        return "text/plain; charset=UTF-8"
    lower = fmt.lower()
    if lower.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if lower.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if lower.startswith("json") or lower == "ndjson":
        return "application/json; charset=UTF-8"
    if lower.startswith(("pretty", "vertical", "markdown", "values", "template", "raw")):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


def _error(code: int, name: str, text: str) -> EngineError:
    return EngineError(code, name, f"Code: {code}. DB::Exception: {text}. ({name})")


class _Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.system = ServerMetrics(engine)
        self.registry.register(self.system)
        self.queries = Counter(
            "pulse_warehouse_queries_total",
            "Statements run by the warehouse bridge",
            ["kind", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "pulse_warehouse_query_duration_seconds",
            "Wall time per statement, body upload included",
            ["kind"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.inserted = Counter(
            "pulse_warehouse_inserted_rows_total", "Rows written by INSERTs", registry=self.registry
        )
        self.in_flight = Gauge("pulse_warehouse_in_flight_queries", "Statements being served", registry=self.registry)


class BridgeServer(ThreadingHTTPServer):
    """The listening socket plus what every request thread shares: engine, metrics, identity."""

    daemon_threads = True  # idle keep-alive connections must not block shutdown
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        engine: Engine,
        display_name: str = "pulse-warehouse",
        *,
        queue_wait_ms: int = 5000,
    ) -> None:
        """``queue_wait_ms``: how long a query waits for a free engine connection before a 503 (a request's own
        ``queue_max_wait_ms`` setting overrides it, as on a server)."""
        self.engine = engine
        self.queue_wait_ms = queue_wait_ms
        self.display_name = display_name
        self.metrics = _Metrics(engine)
        self.closing = False
        super().__init__(address, BridgeHandler)
        self.metrics.system.start()

    def server_close(self) -> None:
        self.metrics.system.stop()
        super().server_close()


class BridgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools connections
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "pulse-warehouse"
    server: BridgeServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._dispatch(post=False)

    def do_POST(self) -> None:
        self._dispatch(post=True)

    def do_HEAD(self) -> None:
        self._reply(200 if urlsplit(self.path).path in ("/", "/ping") else 404, b"")

    # -- routing -------------------------------------------------------------------------

    def _dispatch(self, *, post: bool) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/ping" or url.path == "/replicas_status":
            self._reply(200, b"Ok.\n")
        elif url.path == "/metrics":
            self._reply(200, generate_latest(self.server.metrics.registry), {"Content-Type": CONTENT_TYPE_LATEST})
        elif url.path not in ("/", "/query"):
            self._fail(_error(36, "BAD_ARGUMENTS", f"There is no handle {url.path}"), 404)
        elif not post and "query" not in params:
            self._reply(200, b"Ok.\n")
        elif self.server.closing:
            self._fail(_error(236, "ABORTED", "the warehouse is shutting down"), 503)
        else:
            self._query(params, post)

    # -- one statement -------------------------------------------------------------------

    def _query(self, params: dict[str, str], post: bool) -> None:
        started = time.perf_counter()
        query_id = params.get("query_id") or str(uuid.uuid4())
        metrics = self.server.metrics
        kind, infile, body_done = "query", None, False
        metrics.in_flight.inc()
        try:
            if self.headers.get_content_type() == "multipart/form-data":
                params.update(self._form_fields())
            statement, infile = self._statement(params, post)
            body_done = True
            kind = _kind(statement.sql)
            outcome = self.server.engine.execute(statement, queue_wait_s=self._queue_wait_s(statement))
        except (EngineError, BodyError, UnicodeDecodeError) as failure:
            error = (
                failure
                if isinstance(failure, EngineError)
                else _error(27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", str(failure))
            )
            if not body_done:
                self.close_connection = True  # the unread body would be taken for the next request
            metrics.queries.labels(kind, "error").inc()
            log.warning(
                "query failed",
                extra={"query_id": query_id, "kind": kind, "code": error.code, "error": error.message[:500]},
            )
            self._fail(error, None, query_id)
            return
        finally:
            metrics.in_flight.dec()
            metrics.duration.labels(kind).observe(time.perf_counter() - started)
            if infile is not None:
                Path(infile).unlink()
        metrics.queries.labels(kind, "ok").inc()
        if kind == "insert":
            metrics.inserted.inc(int(outcome.summary.get("written_rows", "0")))
        log.debug(
            "query", extra={"query_id": query_id, "kind": kind, "seconds": round(time.perf_counter() - started, 6)}
        )
        headers = {
            "Content-Type": content_type(outcome.output_format),
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Summary": json.dumps(outcome.summary, separators=(",", ":")),
        }
        if outcome.output_format is not None:
            headers["X-ClickHouse-Format"] = outcome.output_format
        self._reply(200, outcome.body, headers)

    def _queue_wait_s(self, statement: Statement) -> float:
        """The request's ``queue_max_wait_ms`` if it sets one (ClickHouse's name for this wait), else the server's."""
        given = statement.settings.get("queue_max_wait_ms", "")
        wait_ms = int(given) if given.isdigit() else self.server.queue_wait_ms
        return wait_ms / 1000

    def _statement(self, params: dict[str, str], post: bool) -> tuple[Statement, str | None]:
        """Assemble SQL (query param + body), its settings, and any INSERT data spooled to a file."""
        if params.get("decompress") in ("1", "true"):
            raise _error(
                48,
                "NOT_IMPLEMENTED",
                "decompress=1 (ClickHouse block compression) is not supported; use Content-Encoding",
            )
        bind = {name[6:]: value for name, value in params.items() if name.startswith("param_")}
        settings = {k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")}
        readonly = int(settings.pop("readonly", "0") or "0")
        if not post and readonly == 0:
            readonly = 2  # as in ClickHouse: GET never modifies data
        sql, infile = self._sql_and_data(params.get("query", ""))
        statement = Statement(
            sql=sql,
            default_format=params.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated",
            database=params.get("database") or self.headers.get("X-ClickHouse-Database") or None,
            params=bind,
            settings=with_user_agent(settings, self.headers.get("User-Agent")),
            readonly=readonly,
        )
        return statement, infile

    def _sql_and_data(self, query_param: str) -> tuple[str, str | None]:
        chunks = self._body()
        buffer = bytearray(query_param.encode() + b"\n" if query_param else b"")
        at_eof = False
        while True:
            try:
                shape = insert_shape(bytes(buffer), at_eof=at_eof)
                break
            except NeedMore:
                chunk = next(chunks, None)
                if chunk is None:
                    at_eof = True
                else:
                    buffer += chunk
        if shape is None:
            for chunk in chunks:
                buffer += chunk
                if len(buffer) > MAX_SQL_BYTES:
                    raise _error(202, "QUERY_IS_TOO_LARGE", f"query is larger than {MAX_SQL_BYTES} bytes")
            sql = bytes(buffer).decode("utf-8", "surrogateescape").strip()
            if not sql:
                raise _error(62, "SYNTAX_ERROR", "Empty query")
            return sql, None
        fd, path = tempfile.mkstemp(prefix="pulse-insert-", suffix=f".{shape.fmt.lower()}")
        try:
            with os.fdopen(fd, "wb") as spool:
                spool.write(memoryview(buffer)[shape.data_offset :])
                for chunk in chunks:
                    spool.write(chunk)
        except BaseException:
            Path(path).unlink()
            raise
        clause = f" SETTINGS {shape.settings}" if shape.settings else ""
        return f"{shape.head} FROM INFILE {quote_string(path)}{clause} FORMAT {shape.fmt}", path

    def _body(self) -> Iterator[bytes]:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        raw = framed_body(self.rfile, int(length) if length else None, chunked)  # type: ignore[arg-type]
        return iter(decoded(raw, self.headers.get("Content-Encoding")))

    def _form_fields(self) -> dict[str, str]:
        """multipart/form-data: clickhouse-connect sends ``query`` and ``param_*`` this way when binds are large."""
        body = b"".join(self._body())
        header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(header + body)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                raise _error(48, "NOT_IMPLEMENTED", "external data tables are not supported by the warehouse bridge")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                fields[name] = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
        self.headers.replace_header("Content-Length", "0")
        self.headers.replace_header("Content-Type", "text/plain")
        if "Content-Encoding" in self.headers:
            del self.headers["Content-Encoding"]
        return fields

    # -- responses -----------------------------------------------------------------------

    def _fail(self, error: EngineError, status: int | None = None, query_id: str | None = None) -> None:
        message = (
            error.message if "(version " in error.message else f"{error.message} (version {self.server.engine.version})"
        )
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
            "X-ClickHouse-Query-Id": query_id or str(uuid.uuid4()),
        }
        if self.close_connection:
            headers["Connection"] = "close"
        self._reply(status or http_status(error), (message + "\n").encode(), headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("X-ClickHouse-Server-Display-Name", self.server.display_name)
        self.send_header("X-ClickHouse-Timezone", self.server.engine.timezone)
        for name, value in (headers or {"Content-Type": "text/plain; charset=UTF-8"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


def _kind(sql: str) -> str:
    """A coarse label for metrics: select, insert, ddl or other."""
    keyword = leading_keyword(sql)
    if keyword in ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"):
        return "select"
    if keyword == "INSERT":
        return "insert"
    if keyword in ("CREATE", "DROP", "ALTER", "RENAME", "TRUNCATE", "OPTIMIZE", "ATTACH", "DETACH"):
        return "ddl"
    return "other"
