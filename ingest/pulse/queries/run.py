"""Running a named query through clickhouse-connect, with every value bound server-side."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pulse.errors import PulseError
from pulse.queries.params import Value, bind
from pulse.queries.registry import NamedQuery, get


@dataclass(frozen=True)
class Result:
    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


def wire_values(values: Mapping[str, Value]) -> dict[str, object]:
    """Instants as epoch seconds with milliseconds: exact and independent of the server's time zone."""
    wired: dict[str, object] = {}
    for name, value in values.items():
        if isinstance(value, datetime):
            wired[name] = f"{value.astimezone(UTC).timestamp():.3f}"
        elif isinstance(value, date):
            wired[name] = value.isoformat()
        else:
            wired[name] = value
    return wired


def prepare(
    name: str, given: Mapping[str, str] | None = None, now: datetime | None = None
) -> tuple[NamedQuery, dict[str, object]]:
    query = get(name)
    return query, wire_values(bind(query, given or {}, now))


def run(client: Client, name: str, given: Mapping[str, str] | None = None, now: datetime | None = None) -> Result:
    """Run query ``name`` with operator-text parameters (defaults from its header)."""
    query, values = prepare(name, given, now)
    try:
        result = client.query(query.sql, parameters=values)
    except ClickHouseError as error:
        raise PulseError(f"query {name} failed: {error}") from error
    return Result(name, list(result.column_names), [tuple(row) for row in result.result_rows])


def run_typed(client: Client, name: str, values: Mapping[str, Value]) -> Result:
    """Run with already typed values (tests, benchmarks); missing ones take their defaults."""
    query = get(name)
    texts = {k: v for k, v in values.items() if isinstance(v, str)}
    bound = bind(query, texts)
    bound.update({k: v for k, v in values.items() if not isinstance(v, str)})
    result = client.query(query.sql, parameters=wire_values(bound))
    return Result(name, list(result.column_names), [tuple(row) for row in result.result_rows])


def stream_blocks(
    client: Client, name: str, given: Mapping[str, str] | None = None
) -> Iterator[tuple[list[str], list[list[Any]]]]:
    """Result blocks as they arrive, for exports that should not hold everything twice."""
    query, values = prepare(name, given)
    try:
        with client.query_column_block_stream(query.sql, parameters=values) as stream:
            names = list(stream.source.column_names)
            for block in stream:
                yield names, [list(column) for column in block]
    except ClickHouseError as error:
        raise PulseError(f"query {name} failed: {error}") from error
