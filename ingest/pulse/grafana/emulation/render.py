"""What Grafana would send the ClickHouse backend for a dashboard view: every panel's final SQL.

For a time range and variable selection, each ClickHouse target goes through the same steps as
in Grafana: panel time override, ``$__interval`` from maxDataPoints and the panel's min interval,
variable interpolation in the browser, then the plugin's macros on the server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from pulse.grafana.datasources import CLICKHOUSE
from pulse.grafana.emulation import datemath
from pulse.grafana.emulation.macros import QueryContext, TimeRange, calculate_interval, expand_macros
from pulse.grafana.emulation.variables import ALL, VariableState, interpolate


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int
    title: str
    panel_type: str
    ref_id: str
    fmt: int
    named: str | None
    sql: str  # final SQL, as the engine receives it
    time_range: TimeRange  # the range Grafana gives the panel (its override applied or not)


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def panel_range(panel: Mapping[str, Any], time_range: TimeRange) -> TimeRange:
    """The range Grafana gives a panel: its ``timeFrom`` override (``now-<timeFrom>`` .. ``now``) when the
    dashboard's range is relative -- under an absolute range (a zoom, a link with fixed times) Grafana ignores
    the override (scenes ``PanelTimeRange.getTimeOverride``: ``rangeUtil.isRelativeTimeRange(parent.raw)``) --
    then its ``timeShift`` (``0m/m`` rounds both ends to the minute)."""
    override, shift = panel.get("timeFrom"), panel.get("timeShift")
    if override and time_range.now_ms is not None:
        low, high = datemath.describe_text_range(override)
        time_range = datemath.relative(low, high, time_range.now_ms)
    return datemath.shifted(time_range, shift) if shift else time_range


def dashboard_range(dashboard: Mapping[str, Any], now: datetime | None = None) -> TimeRange:
    """The dashboard's default range (``time.from`` .. ``time.to``) as a viewer opening it at ``now`` gets it."""
    end = now or datetime.now(UTC)
    return datemath.relative(dashboard["time"]["from"], dashboard["time"]["to"], int(end.timestamp() * 1000))


def resolve_variables(
    dashboard: Mapping[str, Any], client: Client, time_range: TimeRange, chosen: Mapping[str, str] | None = None
) -> dict[str, VariableState]:
    """Run each query variable (in order, as Grafana does) for its options; current = chosen or All.

    A constant variable is its query (what pulse.grafana.scoped puts for a variable a user cannot query)."""
    states: dict[str, VariableState] = {}
    ctx = QueryContext(time_range, 1000)
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "constant":  # its query is its value (pulse.grafana.scoped's constant All)
            states[var["name"]] = VariableState(var["name"], [str(var["query"])], [], None, "constant")
            continue
        if var.get("type") != "query":
            continue
        query = var["query"]
        sql = query["rawSql"] if isinstance(query, dict) else str(query)
        final = expand_macros(interpolate(sql, states), ctx)
        options = [str(row[0]) for row in client.query(final).result_rows]
        value = (chosen or {}).get(var["name"])
        states[var["name"]] = VariableState(
            var["name"], [value] if value is not None else [ALL], options, var.get("allValue"), "query"
        )
    return states


def expand(
    dashboard: Mapping[str, Any], time_range: TimeRange, variables: Mapping[str, VariableState]
) -> list[PanelQuery]:
    """Every ClickHouse target of every panel, expanded for this view."""
    out: list[PanelQuery] = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []) or []:
            source = target.get("datasource") or panel.get("datasource") or {}
            if source.get("uid") != CLICKHOUSE["uid"]:
                continue
            range_ = panel_range(panel, time_range)
            interval = calculate_interval(range_, int(panel.get("maxDataPoints") or 1000), panel.get("interval"))
            builtins = {"__interval": f"{interval // 1000}s", "__interval_ms": str(interval)}
            sql = interpolate(target["rawSql"], variables, builtins)
            sql = expand_macros(sql, QueryContext(range_, interval))
            out.append(
                PanelQuery(
                    panel["id"],
                    panel["title"],
                    panel["type"],
                    target["refId"],
                    target["format"],
                    target.get("pulseQuery"),
                    sql,
                    range_,
                )
            )
    return out


def now_range(span_s: int, now: datetime | None = None) -> TimeRange:
    """The relative range ``now-<span_s>s`` .. ``now`` (``now`` may be set: a dataset loaded earlier)."""
    end = now or datetime.now(UTC)
    return TimeRange.last(span_s * 1000, int(end.timestamp() * 1000))


@dataclass(frozen=True)
class RedisCommand:
    """A redis-datasource panel query as the plugin sends it to Redis."""

    title: str
    args: tuple[str, ...]


def redis_commands(dashboard: Mapping[str, Any]) -> list[RedisCommand]:
    """The redis-datasource ``command`` queries: hgetall/hget/smembers/zrange (WITHSCORES, as the plugin)/info."""
    out: list[RedisCommand] = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []) or []:
            if target.get("datasource", {}).get("type") != "redis-datasource":
                continue
            command, key = target["command"], target.get("keyName", "")
            if command == "zrange":
                args: tuple[str, ...] = ("ZRANGE", key, target["min"], target["max"], "WITHSCORES")
            elif command == "info":
                args = ("INFO", target["section"]) if target.get("section") else ("INFO",)
            elif command in ("hgetall", "smembers", "get"):
                args = (command.upper(), key)
            else:
                raise ValueError(f"{panel['title']}: command {command} is not one Pulse panels use")
            out.append(RedisCommand(panel["title"], args))
    return out
