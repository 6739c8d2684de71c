"""Retention as an operator task: each table's TTL read from the engine, changed to match the settings.

The migrations set each table's TTL (raw 30 days, rollups longer); ``settings.retention`` says what an
operator wants instead, and ``pulse retention apply`` makes the warehouse match with
``ALTER TABLE ... MODIFY TTL`` (recorded in ``audit_log``). Only TTLs of the form
``<time expression> + toInterval<Unit>(<n>)`` are managed -- what every migration writes; any other
TTL is shown and left alone. A retention that would delete rows of the current hour is refused: it
is a typo (``30m`` for ``30d``), and rows deleted by a TTL do not come back. On a cluster the TTL is
the local tables' (``ON CLUSTER``); the Distributed tables hold no rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.warehouse.cluster import LOCAL_SUFFIX
from pulse.warehouse.sqltext import tokens

#: Tables of raw rows the loader writes (the ``raw`` setting); every other table keeps its migration's TTL
#: unless ``retention.tables`` names it.
RAW_TABLES = ("events", "rejected_events", "loader_dead_letters")
_UNITS = {"s": "Second", "m": "Minute", "h": "Hour", "d": "Day", "w": "Week", "mo": "Month", "y": "Year"}
_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400, "Month": 30 * 86400}
_SECONDS["Year"] = 365 * 86400
_KEEP = re.compile(r"^\s*(\d+)\s*(mo|[smhdwy])\s*$")
_INTERVAL = re.compile(r"^toInterval(Second|Minute|Hour|Day|Week|Month|Year)\((\d+)\)$")


@dataclass(frozen=True, slots=True)
class Keep:
    """A retention: ``count`` units (ClickHouse's interval unit names)."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Keep:
        """``30d``, ``2h``, ``15m``, ``1y``, ``6mo`` ... (s m h d w mo y); a clear error otherwise."""
        match = _KEEP.match(text)
        if not match or int(match.group(1)) < 1:
            raise PulseError(f"retention {text!r}: write a positive count and a unit of s, m, h, d, w, mo, y (30d)")
        return cls(int(match.group(1)), _UNITS[match.group(2)])

    @property
    def sql(self) -> str:
        return f"toInterval{self.unit}({self.count})"

    @property
    def approx(self) -> timedelta:
        """About how long (a month is 30 days, a year 365): to compare with a replay's range."""
        return timedelta(seconds=self.count * _SECONDS[self.unit])

    def __str__(self) -> str:
        return f"{self.count} {self.unit.lower()}{'s' if self.count != 1 else ''}"


@dataclass(frozen=True, slots=True)
class TableTtl:
    """One table's TTL as the engine holds it: ``time + keep`` when it is of the managed form."""

    table: str  # the name readers use (on a cluster: without _local)
    stored_in: str  # the table that holds the rows and the TTL
    ttl: str  # the whole clause, '' without one
    time: str | None  # the time expression of a managed TTL
    keep: Keep | None


@dataclass(frozen=True, slots=True)
class Change:
    ttl: TableTtl
    keep: Keep


def read(client: Client, database: str) -> list[TableTtl]:
    """Every MergeTree table of ``database`` with its TTL (an engine reading, not the migration text)."""
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name",
        parameters={"db": database},
    ).result_rows
    found: list[TableTtl] = []
    for name, ddl in rows:
        stored = str(name)
        table = stored.removesuffix(LOCAL_SUFFIX)
        if table == stored or not _distributed(client, database, table):
            table = stored
        clause = _ttl_clause(str(ddl))
        time, keep = _managed(clause)
        found.append(TableTtl(table, stored, clause, time, keep))
    return sorted(found, key=lambda t: t.table)


def _distributed(client: Client, database: str, table: str) -> bool:
    return bool(
        client.command(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String} "
            "AND engine = 'Distributed'",
            parameters={"db": database, "t": table},
        )
    )


def _ttl_clause(ddl: str) -> str:
    """The top-level ``TTL ...`` clause of a CREATE TABLE, up to SETTINGS or the end."""
    depth, start, end = 0, None, len(ddl)
    for token in tokens(ddl):
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            depth -= 1
        elif depth == 0 and token.kind == "word":
            word = token.text.upper()
            if word == "TTL" and start is None:
                start = token.end
            elif word == "SETTINGS" and start is not None:
                end = token.start
                break
    return ddl[start:end].strip() if start is not None else ""


def _managed(clause: str) -> tuple[str | None, Keep | None]:
    """(time expression, keep) of ``time + toIntervalX(n)``; (None, None) for anything else."""
    if not clause:
        return None, None
    depth, plus = 0, None
    for token in tokens(clause):
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            depth -= 1
        elif depth == 0 and token.kind == "word" and token.text.upper() in ("WHERE", "GROUP", "DELETE", "TO"):
            return None, None
        elif depth == 0 and token.text == ",":
            return None, None  # several TTL rules
        elif depth == 0 and token.text == "+":
            plus = token
    if plus is None:
        return None, None
    match = _INTERVAL.match(clause[plus.end :].strip())
    if not match:
        return None, None
    return clause[: plus.start].strip(), Keep(int(match.group(2)), match.group(1))


def desired(settings: Settings, ttl: TableTtl) -> Keep | None:
    """What the settings ask for this table (None: keep the migration's)."""
    wanted = settings.retention.tables.get(ttl.table)
    if wanted is not None:
        return Keep.parse(wanted)
    if ttl.table in RAW_TABLES:
        return Keep.parse(settings.retention.raw)
    return None


def plan(settings: Settings, ttls: list[TableTtl]) -> list[Change]:
    """The changes that make the warehouse match the settings; a named table that is not there is an error."""
    known = {t.table for t in ttls}
    unknown = sorted(set(settings.retention.tables) - known)
    if unknown:
        raise PulseError(f"PULSE_RETENTION__TABLES names {', '.join(unknown)}: no such MergeTree table")
    changes: list[Change] = []
    for ttl in ttls:
        keep = desired(settings, ttl)
        if keep is None or keep == ttl.keep:
            continue
        if ttl.time is None:
            raise PulseError(f"{ttl.table}: its TTL ({ttl.ttl or 'none'}) is not time + interval; change it by hand")
        changes.append(Change(ttl, keep))
    return changes


def refuse_current_hour(client: Client, database: str, change: Change) -> None:
    """Refuse a TTL under which a row of the current hour would expire before the hour ends."""
    ttl = change.ttl
    columns = client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
        parameters={"db": database, "t": ttl.stored_in},
    ).result_rows
    used = {t.text.strip("`") for t in tokens(ttl.time or "") if t.kind in ("word", "quoted")}
    probe = ", ".join(
        f"CAST(toStartOfHour(now()) AS {column_type}) AS {quote_identifier(name)}"
        for name, column_type in columns
        if name in used
    )
    if not probe:
        raise PulseError(f"{ttl.table}: cannot tell which column its TTL ({ttl.ttl}) reads")
    expires = f"({ttl.time}) + {change.keep.sql}"
    early = client.command(f"SELECT {expires} < toStartOfHour(now()) + toIntervalHour(1) FROM (SELECT {probe})")
    if early in (1, "1", True):
        raise PulseError(
            f"{ttl.table}: keeping {change.keep} would delete rows of the current hour "
            f"({ttl.time} + {change.keep} ends before this hour does); nothing changed"
        )


def apply(client: Client, database: str, changes: list[Change], cluster: str | None, who: str | None = None) -> None:
    """``MODIFY TTL`` each change (every one checked first), each recorded in audit_log."""
    from pulse.access import audit

    for change in changes:
        refuse_current_hour(client, database, change)
    for change in changes:
        ttl = change.ttl
        on_cluster = f" ON CLUSTER {quote_identifier(cluster)}" if cluster else ""
        client.command(
            f"ALTER TABLE {quote_identifier(database)}.{quote_identifier(ttl.stored_in)}{on_cluster} "
            f"MODIFY TTL {ttl.time} + {change.keep.sql}"
        )
        if audit.exists(client, database):
            details = {"ttl": f"{ttl.time} + {change.keep.sql}", "was": ttl.ttl, "keep": str(change.keep)}
            audit.record(client, database, "retention", f"{database}.{ttl.table}", details, who=who)


def raw_cutoff(client: Client, database: str, now: datetime | None = None) -> tuple[datetime, Keep] | None:
    """The oldest moment ``events`` still keeps (None when it has no managed TTL)."""
    events = next((t for t in read(client, database) if t.table == "events"), None)
    if events is None or events.keep is None:
        return None
    return (now or datetime.now(UTC)) - events.keep.approx, events.keep


def refuse_expired_replay(client: Client, database: str, since: datetime, now: datetime | None = None) -> None:
    """A replay starting before ``events``' TTL would insert rows the next merge deletes: say so, insert nothing."""
    found = raw_cutoff(client, database, now)
    if found is None:
        return
    cutoff, keep = found
    if since < cutoff:
        first = (cutoff + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        raise PulseError(
            f"replay from {since:%Y-%m-%d %H:%M} UTC is older than the raw retention: events keeps {keep} (its TTL), "
            f"so rows before {cutoff:%Y-%m-%d %H:%M} UTC would be deleted again at the next merge; nothing replayed. "
            f"Replay from --since {first:%Y-%m-%dT%H:00}, or keep raw rows longer first "
            "(PULSE_RETENTION__RAW, then `pulse retention apply`)"
        )
