"""What the migrations create, read from the real engine: each readable object with its columns.

Grants name columns explicitly, so they are computed from the schema as the engine sees it after
``pulse migrate`` (``system.tables``, ``system.columns``), not from a copy that could drift. Rendering
migrates a throwaway in-process chDB; only one chDB path may be open in a process at a time.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from clickhouse_connect.driver.client import Client

from pulse.settings import ClickHouseSettings, Settings
from pulse.warehouse.client import connect
from pulse.warehouse.migrations import DEFAULT_SCHEMA_DIR, discover, migrate

#: A parameterized view (``CREATE VIEW v AS ... {p:Type}``) lists no columns until it is called.
Kind = Literal["table", "view", "parameterized_view", "dictionary"]
#: A materialized view with ``TO`` (refreshable ones ``... APPEND TO``) stores nothing: reading it reads
#: its target, which is listed itself.
_MOVES_ROWS_ONLY = re.compile(r"^CREATE MATERIALIZED VIEW \S+ (?:REFRESH .*? APPEND )?TO ", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DbObject:
    name: str
    kind: Kind
    columns: tuple[str, ...]


Catalog = dict[str, DbObject]


def from_client(client: Client, database: str) -> Catalog:
    """The readable objects of ``database``: tables (refreshable views' storage included), views, dictionaries."""
    engines = {
        str(name): (str(engine), str(ddl))
        for name, engine, ddl in client.query(
            "SELECT name, engine, create_table_query FROM system.tables "
            "WHERE database = {db:String} AND NOT startsWith(name, '.')",  # .inner / .tmp: engine-internal
            parameters={"db": database},
        ).result_rows
    }
    columns: dict[str, list[str]] = {}
    for table, column in client.query(
        "SELECT table, name FROM system.columns WHERE database = {db:String} ORDER BY table, position",
        parameters={"db": database},
    ).result_rows:
        columns.setdefault(str(table), []).append(str(column))
    catalog: Catalog = {}
    for name, (engine, ddl) in sorted(engines.items()):
        if engine == "MaterializedView" and _MOVES_ROWS_ONLY.match(ddl):
            continue
        kind: Kind = "dictionary" if engine == "Dictionary" else "view" if engine == "View" else "table"
        if kind == "view" and name not in columns:
            kind = "parameterized_view"
        catalog[name] = DbObject(name, kind, tuple(columns.get(name, ())))
    return catalog


def from_migrations(database: str, schema_dir: Path = DEFAULT_SCHEMA_DIR) -> Catalog:
    """Apply the migrations to a throwaway in-process engine and read its catalog."""
    with tempfile.TemporaryDirectory(prefix="pulse-access-catalog-") as path:
        client = connect(Settings(clickhouse=ClickHouseSettings(url=f"chdb://{path}")), use_database=False)
        try:
            migrate(client, database, discover(schema_dir))
            return from_client(client, database)
        finally:
            client.close()
