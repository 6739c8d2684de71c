"""The audit of reads (0011_audit_reads.sql): which columns are sensitive, bringing the feed up to date, reading it.

``audit_reads`` is fed by the engine itself from ``system.query_log`` every minute; this module only
tells it which columns the access definition calls sensitive, asks for an immediate refresh when a
person is about to look, and changes its retention (recorded in ``audit_log``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from pulse.access import audit
from pulse.access.catalog import from_client
from pulse.access.definition import AccessDefinition
from pulse.chdb_server.engine import quote_identifier
from pulse.errors import PulseError

TABLE = "audit_reads"
FEED = "audit_reads_feed"
SENSITIVE = "audit_sensitive_columns"
#: Statements that copy what the engine logged so far into audit_reads, at once. The first wait lets
#: a scheduled refresh that began before the flush finish: asked to refresh while one runs, the engine
#: may only wait for that one, which read the log before our queries reached it. Any refresh running
#: after the first wait began after the flush, so the last wait ends on one that saw everything.
CAPTURE = (
    "SYSTEM FLUSH LOGS",
    "SYSTEM WAIT VIEW {feed}",
    "SYSTEM REFRESH VIEW {feed}",
    "SYSTEM WAIT VIEW {feed}",
)


@dataclass(frozen=True, slots=True)
class Read:
    at: datetime
    who: str
    ch_user: str
    tables: list[str]
    sensitive: list[str]
    denied: bool
    dashboard: str
    panel: str
    duration_ms: int
    read_rows: int


def sensitive_columns(definition: AccessDefinition, client: Client) -> list[tuple[str, str]]:
    """``(database.table.column, class)`` for every column of the warehouse a sensitive class matches."""
    database = definition.database
    return sorted(
        (f"{database}.{obj.name}.{column}", name)
        for obj in from_client(client, database).values()
        for column in obj.columns
        for name in definition.classes_of(obj.name, column)
    )


def classify(client: Client, definition: AccessDefinition) -> int:
    """Replace the sensitive columns the feed marks reads with; returns how many columns are sensitive."""
    rows = sensitive_columns(definition, client)
    target = f"{quote_identifier(definition.database)}.{SENSITIVE}"
    client.command(f"TRUNCATE TABLE {target}")
    if rows:
        client.insert(target, [list(row) for row in rows], column_names=["column", "class"])
    return len(rows)


def capture_statements(database: str) -> list[str]:
    """Flush the query log and run the feed now: what `pulse audit reads` and the bridge's shutdown do."""
    feed = f"{quote_identifier(database)}.{FEED}"
    return [statement.format(feed=feed) for statement in CAPTURE]


def capture(client: Client, database: str) -> None:
    """Bring audit_reads up to date with everything the engine has logged."""
    for statement in capture_statements(database):
        client.command(statement)


def read(
    client: Client,
    database: str,
    *,
    since: datetime | None = None,
    who: str | None = None,
    sensitive_only: bool = False,
    denied_only: bool = False,
    limit: int = 100,
) -> list[Read]:
    """The newest reads first, filtered by time, person, sensitivity and refusal."""
    rows = client.query(
        "SELECT at, who, ch_user, tables, sensitive, denied, dashboard, panel, duration_ms, read_rows "
        f"FROM {quote_identifier(database)}.{TABLE} "
        "WHERE ({since:Nullable(DateTime64(6, 'UTC'))} IS NULL OR at >= {since:Nullable(DateTime64(6, 'UTC'))}) "
        "AND ({who:String} = '' OR who = {who:String}) "
        "AND (NOT {sensitive:Bool} OR sensitive != []) AND (NOT {denied:Bool} OR denied) "
        "ORDER BY at DESC LIMIT {limit:UInt32}",
        parameters={
            "since": since,
            "who": who or "",
            "sensitive": sensitive_only,
            "denied": denied_only,
            "limit": limit,
        },
    ).result_rows
    return [
        Read(at, str(w), str(u), list(t), list(s), bool(d), str(db), str(p), int(ms), int(n))
        for at, w, u, t, s, d, db, p, ms, n in rows
    ]


def set_retention(client: Client, database: str, days: int, who: str | None = None) -> None:
    """Keep audit_reads ``days`` days (its own retention, one year by default); recorded in audit_log."""
    if days < 1:
        raise PulseError(f"retention of {TABLE}: {days} days; give at least 1")
    client.command(f"ALTER TABLE {quote_identifier(database)}.{TABLE} MODIFY TTL toDateTime(at) + INTERVAL {days} DAY")
    audit.record(client, database, "retention", f"{database}.{TABLE}", {"days": days}, who=who)
