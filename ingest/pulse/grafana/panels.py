"""Panel building blocks: queries beside their panels, units and thresholds set, laid out on a grid.

A dashboard file lists :class:`PanelSpec` values per row; :func:`build_panels` turns them into
grafanalib panels with the ClickHouse plugin's query model (``format`` as the number the plugin
expects; grafanalib's SqlTarget would write a string), Prometheus or Redis targets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import attr
import grafanalib.core as g

from pulse.grafana.datasources import CLICKHOUSE, PROMETHEUS, REDIS
from pulse.grafana.named import ALL_VALUE, Use, to_grafana_sql

SCHEMA_VERSION = 39  # dashboards are written in the current JSON model; Grafana runs no migrations
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1
#: Grafana's reference syntax ``${name}`` / ``${name:format}``: what a link leaves for Grafana to fill in.
_LINK_REFERENCE = re.compile(r"\$\{\w+(?::\w+)?\}")


@attr.s
class ClickHouseTarget:
    """The grafana-clickhouse-datasource query model for raw SQL."""

    sql: str = attr.ib()
    ref_id: str = attr.ib(default="A")
    fmt: int = attr.ib(default=FORMAT_TABLE)
    named: str | None = attr.ib(default=None)

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "refId": self.ref_id,
            "datasource": dict(CLICKHOUSE),
            "editorType": "sql",
            "rawSql": self.sql,
            "format": self.fmt,
            "queryType": "timeseries" if self.fmt == FORMAT_TIME_SERIES else "table",
        }
        if self.named:
            data["pulseQuery"] = self.named  # traceability: the named query this SQL comes from
        return data


@attr.s
class PromTarget:
    expr: str = attr.ib()
    legend: str = attr.ib(default="")
    ref_id: str = attr.ib(default="A")

    def to_json_data(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "datasource": dict(PROMETHEUS),
            "expr": self.expr,
            "legendFormat": self.legend,
            "range": True,
        }


@attr.s
class RedisTarget:
    """redis-datasource command query (only the commands the plugin supports)."""

    command: str = attr.ib()
    key: str = attr.ib()
    ref_id: str = attr.ib(default="A")
    extra: dict[str, Any] = attr.ib(factory=dict)

    def to_json_data(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "datasource": dict(REDIS),
            "type": "command",
            "query": "",
            "command": self.command,
            "keyName": self.key,
            **self.extra,
        }


@attr.s
class BarGaugePanel(g.Panel):  # type: ignore[misc]
    """The current bar gauge (options live in extraJson); grafanalib's BarGauge is the legacy one."""

    def to_json_data(self) -> dict[str, Any]:
        return self.panel_json({"type": "bargauge"})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PanelSpec:
    """One panel: what it shows (a named query use, raw SQL, PromQL or a Redis command) and how."""

    kind: str  # timeseries | stat | table | bargauge | piechart | barchart
    title: str
    description: str
    use: Use | None = None
    sql: str | None = None  # raw SQL (system tables), only where no named query fits
    prom: Sequence[tuple[str, str]] = ()  # (expr, legend)
    redis: tuple[str, str, dict[str, Any]] | None = None
    fmt: int = FORMAT_TABLE
    unit: str = "short"
    thresholds: Sequence[tuple[str, float | None]] = (("green", None),)
    width: int = 8
    height: int = 8
    interval: str | None = None  # the panel's min interval (floor of $__interval)
    time_from: str | None = None  # relative time override, e.g. "5m" for the live panels
    links: Sequence[tuple[str, str]] = ()  # (title, url)
    options: dict[str, Any] = field(default_factory=dict)
    field_overrides: Sequence[dict[str, Any]] = ()

    def targets(self) -> list[Any]:
        if self.use is not None:
            return [ClickHouseTarget(to_grafana_sql(self.use), fmt=self.fmt, named=self.use.name)]
        if self.sql is not None:
            return [ClickHouseTarget(self.sql.strip(), fmt=self.fmt)]
        if self.redis is not None:
            command, key, extra = self.redis
            return [RedisTarget(command, key, extra=extra)]
        return [PromTarget(expr, legend, ref_id=chr(ord("A") + i)) for i, (expr, legend) in enumerate(self.prom)]

    @property
    def datasource(self) -> dict[str, str]:
        if self.redis is not None:
            return dict(REDIS)
        return dict(PROMETHEUS) if self.prom else dict(CLICKHOUSE)


def _threshold_steps(spec: PanelSpec) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in spec.thresholds]}


def _field_config(spec: PanelSpec) -> dict[str, Any]:
    return {
        "defaults": {
            "unit": spec.unit,
            "thresholds": _threshold_steps(spec),
            "color": {"mode": ("thresholds" if spec.kind in ("stat", "bargauge") else "palette-classic")},
        },
        "overrides": list(spec.field_overrides),
    }


def explore_url(targets: Sequence[Mapping[str, Any]]) -> str:
    """Grafana's Explore URL (``/explore?schemaVersion=1&panes=…``) opening ``targets`` as the panel holds them.

    One pane on the ClickHouse data source with the panel's queries (SQL with its macros, which
    Explore expands for its own range) and the panel's time range as ``${__from}``/``${__to}``
    (epoch ms). Everything is percent-encoded except Grafana references ``${name:format}``, which
    Grafana fills in when it renders the link: the dashboard variables inside the SQL (encoded by
    ``percentencode``, see :func:`pulse.grafana.named.variable_value`) and the range. A macro's ``$``
    is encoded, so Grafana leaves it for Explore. Limit: Explore decodes the URL once, so a selected
    value containing ``'``, ``"``, ``\\``, ``%`` or a control character reaches Explore's SQL raw and
    breaks it (a panel link has no format that encodes twice); the panel itself is exact for any value.
    """
    keys = ("refId", "datasource", "editorType", "rawSql", "format", "queryType")
    pane = {
        "datasource": CLICKHOUSE["uid"],
        "queries": [{key: target[key] for key in keys if key in target} for target in targets],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    text = json.dumps({"pulse": pane}, separators=(",", ":"), ensure_ascii=False)
    parts, last = [], 0
    for match in _LINK_REFERENCE.finditer(text):
        parts += [quote(text[last : match.start()], safe=""), match.group(0)]
        last = match.end()
    parts.append(quote(text[last:], safe=""))
    return "/explore?schemaVersion=1&panes=" + "".join(parts)


def explore_use(use: Use, fmt: int = FORMAT_TABLE) -> str:
    """The Explore URL of a named query use (for a link to a query another panel shows)."""
    return explore_url([ClickHouseTarget(to_grafana_sql(use), fmt=fmt, named=use.name).to_json_data()])


def _links(spec: PanelSpec) -> list[dict[str, Any]]:
    links = [{"title": title, "url": url, "targetBlank": False} for title, url in spec.links]
    if spec.use is not None or spec.sql is not None:
        targets = [target.to_json_data() for target in spec.targets()]
        links.append({"title": "Explore this query", "url": explore_url(targets), "targetBlank": False})
    return links


def build_panel(spec: PanelSpec, pos: g.GridPos, panel_id: int) -> g.Panel:
    """A grafanalib panel for ``spec`` at ``pos`` (ids assigned by the caller, unique per dashboard)."""
    common: dict[str, Any] = {
        "title": spec.title,
        "description": spec.description,
        "dataSource": spec.datasource,
        "targets": spec.targets(),
        "gridPos": pos,
        "id": panel_id,
        "links": _links(spec),
        "timeFrom": spec.time_from,
        # an override's range ends at "now", not the dashboard's "now/m": shift by 0 minutes rounded to the
        # minute (Grafana's "0m/m": from rounds down, to up) so viewers in one minute send the same SQL
        "timeShift": ALIGN_SHIFT if spec.time_from else None,
        "interval": spec.interval,
    }
    extra: dict[str, Any] = {"fieldConfig": _field_config(spec)}
    panel: g.Panel
    if spec.kind == "timeseries":
        panel = g.TimeSeries(
            unit=spec.unit, legendDisplayMode="table", legendPlacement="right", legendCalcs=["sum", "max"], **common
        )
    elif spec.kind == "stat":
        panel = g.Stat(format=spec.unit, reduceCalc="lastNotNull", graphMode="none", colorMode="value", **common)
        extra["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value_and_name",
            "orientation": "auto",
            "justifyMode": "auto",
        }
    elif spec.kind == "table":
        panel = g.Table(unit=spec.unit, **common)
    elif spec.kind == "piechart":
        panel = g.PieChartv2(unit=spec.unit, reduceOptionsCalcs=["sum"], pieType="donut", **common)
    elif spec.kind == "barchart":
        panel = g.BarChart(showValue="auto", **common)
    elif spec.kind == "bargauge":
        panel = BarGaugePanel(**common)
        extra["options"] = {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "showUnfilled": True,
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
        }
    else:
        raise ValueError(f"unknown panel kind {spec.kind}")
    if spec.options:
        extra.setdefault("options", {}).update(spec.options)
    panel.extraJson = extra
    return panel


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[PanelSpec]
    collapsed: bool = False


def build_panels(rows: Sequence[Row]) -> list[g.Panel]:
    """Rows and their panels, flowed left to right on Grafana's 24-column grid, ids from 1.

    A collapsed row holds its panels (Grafana queries them only once the row is opened) and takes one
    grid line; its panels keep the places they get when it is opened.
    """
    out: list[g.Panel] = []
    y = 0
    next_id = 1
    for row in rows:
        row_y, row_id = y, next_id
        next_id += 1
        y += 1
        x, line_height = 0, 0
        inside: list[g.Panel] = []
        for spec in row.panels:
            if x + spec.width > 24:
                x, y, line_height = 0, y + line_height, 0
            inside.append(build_panel(spec, g.GridPos(h=spec.height, w=spec.width, x=x, y=y), next_id))
            next_id += 1
            x += spec.width
            line_height = max(line_height, spec.height)
        y += line_height
        header = g.GridPos(h=1, w=24, x=0, y=row_y)
        if row.collapsed:
            out.append(g.RowPanel(title=row.title, gridPos=header, id=row_id, collapsed=True, panels=inside))
            y = row_y + 1
        else:
            out.append(g.RowPanel(title=row.title, gridPos=header, id=row_id))
            out.extend(inside)
    return out


def query_variable(name: str, label: str, sql: str) -> g.Template:
    """A ClickHouse query variable whose All (:data:`ALL_VALUE`) the named queries read as ``''``, "all"."""
    return g.Template(
        name=name,
        label=label,
        query={"refId": "var", "queryType": "sql", "rawSql": sql},
        dataSource=dict(CLICKHOUSE),
        type="query",
        includeAll=True,
        allValue=ALL_VALUE,
        multi=False,
        refresh=2,
        sort=1,
        default="$__all",
    )


def unit_override(field: str, unit: str, *, regex: bool = False) -> dict[str, Any]:
    """A field override: columns named ``field`` (or matching it, ``regex``) shown in ``unit``."""
    matcher = {"id": "byRegexp" if regex else "byName", "options": field}
    return {"matcher": matcher, "properties": [{"id": "unit", "value": unit}]}


def hidden(field: str) -> dict[str, Any]:
    """A field override: the column ``field`` is not shown (a query returns it for another panel's sake)."""
    return {"matcher": {"id": "byName", "options": field}, "properties": [{"id": "custom.hidden", "value": True}]}


def rate(metric: str, legend: str, *, by: str | None = None, job: str | None = None) -> tuple[str, str]:
    """A Prometheus counter's per-second rate over Grafana's rate interval, summed (per ``by``): (expr, legend).

    ``job``: for a labelled counter that has no series before its first increment (errors), 0 while a
    target of ``job`` is scraped, instead of "No data" (which would read like a broken scrape).
    """
    grouping = f" by ({by}) " if by else ""
    expr = f"sum{grouping}(rate({metric}[$__rate_interval]))"
    return (f"{expr} or {idle_zero(job)}" if job else expr), legend


def idle_zero(job: str) -> str:
    """0 while at least one target of ``job`` answers its scrapes, no series otherwise."""
    return f'0 * sum(up{{job="{job}"}} == 1)'


@dataclass(frozen=True, kw_only=True)
class Link:
    """A link to another dashboard in the header, keeping the time range."""

    title: str
    uid: str
    tooltip: str

    def to_grafana(self) -> g.DashboardLink:
        return g.DashboardLink(
            title=self.title,
            type="link",
            uri=dashboard_url(self.uid),
            keepTime=True,
            includeVars=False,
            icon="dashboard",
            tags=[],
            targetBlank=False,
            tooltip=self.tooltip,
        )


#: The last hour in whole minutes (Grafana rounds ``/m``: from down, to up to the minute's last second), so
#: every viewer within one minute sends byte-identical SQL and ClickHouse's query cache can answer them all
#: (issue 16; pulse.grafana.emulation.datemath proves it the way Grafana computes it).
DEFAULT_RANGE = ("now-1h/m", "now/m")
ALIGN_SHIFT = "0m/m"


def dashboard_url(uid: str) -> str:
    """The path of a dashboard, with the viewer's current time range."""
    return f"/d/{uid}/{uid}?${{__url_time_range}}"


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: Sequence[str],
    refresh: str,
    rows: Sequence[Row],
    links: Sequence[Link],
    variables: Sequence[g.Template] = (),
) -> g.Dashboard:
    """A Pulse dashboard: UTC, the last hour, the current schema version, rows laid out by :func:`build_panels`."""
    return g.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=list(tags),
        timezone="utc",
        schemaVersion=SCHEMA_VERSION,
        refresh=refresh,
        time=g.Time(*DEFAULT_RANGE),
        templating=g.Templating(list(variables)),
        panels=build_panels(rows),
        links=[link.to_grafana() for link in links],
    )
