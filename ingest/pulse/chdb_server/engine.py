"""The one chDB engine of the process, as a pool of connections that run queries in parallel.

chDB lets one process open one data path, but any number of connections to it; each
connection serialises its own queries while separate connections run concurrently and
release the GIL (measured: see docs/warehouse.md). So requests borrow a connection from a
small pool. A connection carries session state (current database, SET values), which the
HTTP interface must not leak between requests: each borrow brings the connection to the
request's database and settings, changing only what differs from its last use.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chdb

from pulse.warehouse.sqltext import explicit_format, leading_keyword, produces_result

log = logging.getLogger(__name__)

_CODE = re.compile(r"Code: (\d+)\. ")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
STD_EXCEPTION = 1001
ABORTED = 236
TOO_MANY_SIMULTANEOUS_QUERIES = 202


class EngineError(Exception):
    """A ClickHouse exception: numeric code, symbolic name and the engine's own message."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    @classmethod
    def from_engine(cls, error: BaseException) -> EngineError:
        text = str(error).strip()
        start = text.find("Code: ")
        text = text[start:] if start > 0 else text
        match = _CODE.search(text)
        code = int(match.group(1)) if match else STD_EXCEPTION
        names = _NAME.findall(text)
        name = names[-1] if names else "STD_EXCEPTION"
        if not match:
            text = f"Code: {code}. DB::Exception: {text}. ({name})"
        return cls(code, name, text)


@dataclass(frozen=True, slots=True)
class Statement:
    """One request's SQL and the session it must run in."""

    sql: str
    default_format: str = "TabSeparated"
    database: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    readonly: int = 0  # 0 read-write, 2 read-only (HTTP GET), 1 read-only and no SET


@dataclass(frozen=True, slots=True)
class Outcome:
    body: bytes
    output_format: str | None  # set when the statement produces rows
    summary: dict[str, str]


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Handle:
    """A chDB connection plus what we last did to its session."""

    def __init__(self, path: str, readonly: int, config: Path | None = None) -> None:
        target = f"{path}?config-file={config}" if config else path
        self.conn: Any = chdb.connect(target)  # type: ignore[no-untyped-call]
        self.readonly = readonly
        self.database: str | None = None
        self.applied: dict[str, str] = {}
        rows = self.run("SELECT name, value FROM system.settings WHERE changed AND name != 'database'", "JSONEachRow")
        self.baseline = {row["name"]: row["value"] for row in map(json.loads, rows.bytes().splitlines())}
        if readonly:
            self.run(f"SET readonly = {readonly}")

    def run(self, sql: str, fmt: str = "TabSeparated", params: Mapping[str, str] | None = None) -> Any:
        try:
            # bytes, so a query carrying non-UTF-8 literals reaches the engine byte for byte
            return self.conn.query(sql.encode("utf-8", "surrogateescape"), fmt, params=dict(params or {}))
        except Exception as error:
            raise EngineError.from_engine(error) from None

    def use(self, database: str) -> None:
        if database != self.database:
            self.database = None
            self.run(f"USE {quote_identifier(database)}")
            self.database = database

    def configure(self, settings: Mapping[str, str]) -> None:
        """Make the session's SET values exactly ``settings``, with one SET statement at most."""
        changes: list[str] = []
        for name in self.applied.keys() - settings.keys():
            default = self.baseline.get(name)
            changes.append(f"{name} = {quote_string(default) if default is not None else 'DEFAULT'}")
        for name, value in settings.items():
            if self.applied.get(name) != value:
                if not _SETTING_NAME.match(name):
                    raise EngineError(
                        115, "UNKNOWN_SETTING", f"Code: 115. DB::Exception: Unknown setting {name!r}. (UNKNOWN_SETTING)"
                    )
                changes.append(f"{name} = {quote_string(value)}")
        if changes:
            self.applied = {}  # unknown until the SET succeeds
            self.run("SET " + ", ".join(changes))
            self.applied = dict(settings)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing is best effort; the engine logs its own errors
            log.debug("closing a chDB connection failed", exc_info=True)


class Engine:
    """Owns the chDB data path for the life of the process; thread-safe."""

    def __init__(self, path: Path, *, pool_size: int = 4, config: Path | None = None) -> None:
        """``config``: a ClickHouse ``config.xml`` (with its ``config.d``) every connection opens with."""
        path.mkdir(parents=True, exist_ok=True)
        self.path = str(path.resolve())
        self.config = config
        self.pool_size = pool_size
        self._slots = threading.BoundedSemaphore(pool_size)
        self._lock = threading.Lock()
        self._idle: dict[int, list[_Handle]] = {0: [], 2: []}
        self._closed = False
        # The first connection opens the engine; keep it so the path stays ours.
        first = _Handle(self.path, 0, self.config)
        row = first.run("SELECT version(), timezone()").bytes().decode().split("\t")
        self.version, self.timezone = row[0].strip(), row[1].strip()
        names = first.run(
            "SELECT number, errorCodeToName(number) FROM numbers(2000) WHERE errorCodeToName(number) != ''"
        )
        self.error_names = {
            int(code): name for code, name in (line.split("\t") for line in names.bytes().decode().splitlines())
        }
        self._idle[0].append(first)

    def execute(self, statement: Statement, *, queue_wait_s: float | None = None) -> Outcome:
        """Run one statement on a pooled connection prepared for it; raise EngineError on failure.

        With ``queue_wait_s``, a statement that finds every connection busy for that long is refused
        with TOO_MANY_SIMULTANEOUS_QUERIES (as a server over ``max_concurrent_queries`` does after
        ``queue_max_wait_ms``) instead of queueing without bound behind the others.
        """
        if not self._slots.acquire(timeout=queue_wait_s):
            raise EngineError(
                TOO_MANY_SIMULTANEOUS_QUERIES,
                "TOO_MANY_SIMULTANEOUS_QUERIES",
                f"Code: {TOO_MANY_SIMULTANEOUS_QUERIES}. DB::Exception: Too many simultaneous queries: all "
                f"{self.pool_size} connections stayed busy for {queue_wait_s} s. (TOO_MANY_SIMULTANEOUS_QUERIES)",
            )
        try:
            return self._execute(statement)
        finally:
            self._slots.release()

    def _execute(self, statement: Statement) -> Outcome:
        """Run ``statement`` on a connection; the caller holds one of the pool's slots."""
        handle = self._take(2 if statement.readonly == 2 else 0)
        keep = True
        try:
            handle.use(statement.database or "default")
            handle.configure(statement.settings)
            if statement.readonly == 1:
                keep = False  # readonly=1 cannot be undone on this session
                handle.run("SET readonly = 1")
            keyword = leading_keyword(statement.sql)
            if keyword == "SET":
                keep = False  # a bare SET would leak into the next request's session
            elif keyword == "USE":
                handle.database = None
            try:
                result = handle.run(statement.sql, statement.default_format, statement.params)
            except EngineError as error:
                if not _kafka_table_created(statement.sql, error):
                    raise
                return Outcome(b"", None, {})
            body: bytes = result.bytes() or b""
            fmt = (
                (explicit_format(statement.sql) or statement.default_format) if produces_result(statement.sql) else None
            )
            return Outcome(body, fmt, _summary(result, len(body), keyword == "INSERT"))
        except EngineError:
            keep = keep and handle.applied == dict(statement.settings)
            raise
        finally:
            self._give(handle, keep)

    def _take(self, readonly: int) -> _Handle:
        with self._lock:
            if self._closed:
                raise EngineError(
                    ABORTED, "ABORTED", "Code: 236. DB::Exception: the warehouse is shutting down. (ABORTED)"
                )
            if self._idle[readonly]:
                return self._idle[readonly].pop()
            return _Handle(self.path, readonly, self.config)

    def _give(self, handle: _Handle, keep: bool) -> None:
        with self._lock:
            if keep and not self._closed and len(self._idle[handle.readonly]) < self.pool_size:
                self._idle[handle.readonly].append(handle)
                return
        handle.close()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Wait for in-flight queries (up to ``timeout_s``), then close every connection.

        Returns False if some query was still running; its connection closes when it returns.
        """
        deadline = time.monotonic() + timeout_s
        acquired = 0
        while acquired < self.pool_size and self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            acquired += 1
        with self._lock:
            self._closed = True
            handles = self._idle[0] + self._idle[2]
            self._idle = {0: [], 2: []}
        for handle in handles:
            handle.close()
        for _ in range(acquired):
            self._slots.release()
        return acquired == self.pool_size


_CREATE_KAFKA_TABLE = re.compile(r"^\s*CREATE\s+TABLE\b.*\bENGINE\s*=\s*Kafka\b", re.IGNORECASE | re.DOTALL)


def _kafka_table_created(sql: str, error: EngineError) -> bool:
    """chDB answers a successful ``CREATE TABLE ... ENGINE = Kafka`` with "Shutdown was called" (LOGICAL_ERROR).

    The table exists and its consumers run (tests/warehouse/test_kafka_engine.py proves it), so the
    embedded stand-in reports success, as a ClickHouse server does; any other error stays an error.
    """
    return (
        error.name == "LOGICAL_ERROR"
        and "Shutdown was called" in error.message
        and bool(_CREATE_KAFKA_TABLE.match(sql))
    )


def _summary(result: Any, result_bytes: int, insert: bool) -> dict[str, str]:
    """The X-ClickHouse-Summary fields clickhouse-connect reads, from chDB's statistics."""
    read_rows, read_bytes = int(result.rows_read()), int(result.bytes_read())
    written_rows, written_bytes = int(result.rows_written()), int(result.bytes_written())
    if insert and not written_rows:
        written_rows, written_bytes = read_rows, read_bytes
    return {
        "read_rows": str(read_rows),
        "read_bytes": str(read_bytes),
        "written_rows": str(written_rows),
        "written_bytes": str(written_bytes),
        "total_rows_to_read": str(read_rows),
        "result_bytes": str(result_bytes),
        "elapsed_ns": str(int(float(result.elapsed()) * 1e9)),
    }
