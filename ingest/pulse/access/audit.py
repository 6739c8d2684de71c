"""The audit trail of operator actions: one append-only ``audit_log`` row per change (0010_audit.sql).

Who changed access, the schema, write keys or a retention, or replayed the archive, and when; and
every call of the read API (``pulse.api.trail`` batches those rows). Reads of data through Grafana are
not written here: ``audit_reads`` has them, fed from ClickHouse's query log (pulse.access.reads,
docs/access.md).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pulse.chdb_server.engine import quote_identifier
from pulse.errors import PulseError
from pulse.settings import Settings

TABLE = "audit_log"


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    who: str
    action: str
    target: str
    details: str


def actor() -> str:
    """Who runs this process: the operating-system user (a Job's service account user in a cluster)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    client: Client, database: str, action: str, target: str, details: dict[str, Any], who: str | None = None
) -> None:
    """Append one row; an action that changed the warehouse but could not be recorded is an error."""
    try:
        write(client, database, [entry(action, target, details, who or actor())])
    except ClickHouseError as error:
        raise PulseError(f"{action} {target} done, but not recorded in {database}.{TABLE}: {error}") from error


def entry(action: str, target: str, details: dict[str, Any], who: str, at: datetime | None = None) -> Entry:
    """One row, its details as sorted JSON (so equal details read the same)."""
    text = orjson.dumps(details, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return Entry(at or datetime.now(UTC), who, action, target, text)


def write(client: Client, database: str, entries: list[Entry]) -> None:
    """Append rows in one insert (the read API batches its calls' rows); ClickHouseError when refused."""
    client.insert(
        f"{quote_identifier(database)}.{TABLE}",
        [[e.at, e.who, e.action, e.target, e.details] for e in entries],
        column_names=["at", "who", "action", "target", "details"],
    )


def exists(client: Client, database: str) -> bool:
    """Whether the audit table is there (a custom ``--schema-dir`` may not create it)."""
    return bool(client.command("EXISTS TABLE {db:Identifier}.{t:Identifier}", parameters={"db": database, "t": TABLE}))


def read(
    client: Client,
    database: str,
    *,
    since: datetime | None = None,
    who: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[Entry]:
    """The newest entries first, filtered by time, actor and action."""
    rows = client.query(
        f"SELECT at, who, action, target, details FROM {quote_identifier(database)}.{TABLE} "
        "WHERE ({since:Nullable(DateTime64(3, 'UTC'))} IS NULL OR at >= {since:Nullable(DateTime64(3, 'UTC'))}) "
        "AND ({who:String} = '' OR who = {who:String}) AND ({action:String} = '' OR action = {action:String}) "
        "ORDER BY at DESC LIMIT {limit:UInt32}",
        parameters={"since": since, "who": who or "", "action": action or "", "limit": limit},
    ).result_rows
    return [Entry(at, str(w), str(a), str(t), str(d)) for at, w, a, t, d in rows]


def record_outside(settings: Settings, action: str, target: str, details: dict[str, Any]) -> str | None:
    """Record an action done outside the warehouse (write keys live in Redis); returns why it was not.

    Best effort by design: revoking a leaked key must never wait for the warehouse. The caller says
    loudly when this returns a reason.
    """
    from pulse.warehouse.client import connect

    database = settings.clickhouse.database
    try:
        client = connect(settings)
    except Exception as error:  # any failure to reach the warehouse is reported, not raised
        return f"warehouse unreachable: {error}"
    try:
        if not exists(client, database):
            return f"{database}.{TABLE} does not exist (run `pulse migrate`)"
        record(client, database, action, target, details)
    except (PulseError, ClickHouseError) as error:
        return str(error)
    finally:
        client.close()
    return None
