"""`pulse bench viewers`: N staggered viewers refreshing the unified dashboard, without and with each measure.

Each viewer is a browser tab: its own "now" (it opened the dashboard at its own second), its own
variables (most on the default view, some filtered, one on an unusual wide range with several
filters), and every refresh it sends every visible ClickHouse panel's SQL at once, expanded exactly as
Grafana and the plugin would (pulse.grafana.emulation). The measures (issue 16) are switched per mode
in the same run, against the same warehouse and data:

- ``aligned``: the dashboard as generated (``now-1h/m`` .. ``now/m``, overrides ``timeShift: 0m/m``)
  instead of the unrounded ``now-1h`` .. ``now`` every viewer used to send;
- ``cache``: the data source's query-cache settings (pulse.grafana.datasources.QUERY_CACHE_SETTINGS);
- ``limits``: the dashboard profile's per-query limits (max_threads, priority) and the bridge's bounded
  queue (a request that waits longer is shed with a 503) instead of an unbounded wait.

Figures per mode: dashboard loads/s, whole-dashboard and per-panel p50/p95/p99, errors, warehouse
CPU-seconds and RSS, query-cache hit ratio, and the latency of a live ingest running beside the viewers
(``INSERT ... SELECT`` of synthetic events through the same materialized views: an event is visible in
every rollup when its insert returns). Figures are printed with the load average: the box is shared.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from clickhouse_connect.driver.client import Client

from pulse.access.definition import Profile
from pulse.bench.stats import percentile
from pulse.grafana.datasources import CLICKHOUSE, QUERY_CACHE_SETTINGS
from pulse.grafana.emulation.macros import TimeRange
from pulse.grafana.emulation.render import dashboard_range, expand
from pulse.grafana.emulation.variables import ALL, VariableState
from pulse.settings import Settings

UNBOUNDED_WAIT_MS = 600_000  # "limits" off: a request queues for the bridge as long as it takes
WIDE_RANGE = ("now-7d/m", "now/m")  # the unusual viewer: a week, several filters, cold for everyone else


@dataclass(frozen=True)
class Mode:
    name: str
    aligned: bool
    cache: bool
    limits: bool


MODES = {
    "baseline": Mode("baseline", aligned=False, cache=False, limits=False),
    "aligned": Mode("aligned", aligned=True, cache=False, limits=False),
    "aligned+cache": Mode("aligned+cache", aligned=True, cache=True, limits=False),
    "shipped": Mode("shipped", aligned=True, cache=True, limits=True),
}


@dataclass(frozen=True)
class Viewer:
    index: int
    kind: str  # default | filtered | unusual
    chosen: tuple[tuple[str, str], ...]
    offset_s: float  # when in the refresh period this tab refreshes


@dataclass
class Percentiles:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def of(cls, samples_s: list[float]) -> Percentiles:
        ms = [s * 1000 for s in samples_s] or [0.0]
        return cls(len(samples_s), *(round(percentile(ms, q), 1) for q in (50, 95, 99)))


@dataclass
class ModeFigures:
    mode: str
    seconds: float
    loads: int
    loads_per_s: float
    offered_loads_per_s: float
    dashboard: Percentiles
    dashboard_default_viewers: Percentiles
    dashboard_unusual_viewer: Percentiles
    panel: Percentiles
    panels: dict[str, Percentiles]
    errors: dict[str, int]
    warehouse_cpu_s: float
    warehouse_cpu_ms_per_load: float
    warehouse_rss_mib: float
    cache_hits: int
    cache_misses: int
    cache_hit_ratio: float
    distinct_sql_per_refresh: float
    panel_queries_per_refresh: float
    cache_ceiling: float  # 1 - distinct / sent: the share a cache with TTL >= the refresh could answer
    ingest_rows_per_s: float
    ingest_insert: Percentiles
    ingest_errors: dict[str, int]
    loadavg_start: tuple[float, float, float]
    loadavg_end: tuple[float, float, float]


@dataclass
class Figures:
    users: int
    refresh_s: float
    events: int
    ingest_rate: int
    connections: int
    modes: list[ModeFigures] = field(default_factory=list)


def viewers(users: int, refresh_s: float, options: dict[str, list[str]], seed: int = 1) -> list[Viewer]:
    """Staggered tabs: 1 unusual, ~10% filtered on one or two variables, the rest on the default view."""
    rng = random.Random(seed)  # noqa: S311 -- a reproducible choice of filters, not a secret
    out: list[Viewer] = []
    for index in range(users):
        offset = refresh_s * index / users
        if index == users // 2:
            chosen = tuple((name, values[0]) for name, values in options.items() if values and name != "campaign")
            out.append(Viewer(index, "unusual", chosen[:3], offset))
        elif index % 10 == 3:
            names = rng.sample([n for n, v in options.items() if v], k=min(2, len(options)))
            out.append(Viewer(index, "filtered", tuple((n, rng.choice(options[n])) for n in sorted(names)), offset))
        else:
            out.append(Viewer(index, "default", (), offset))
    return out


def visible(board: dict[str, Any]) -> dict[str, Any]:
    """The board as first opened: collapsed rows' panels are not queried until a viewer opens the row."""
    shown = copy.deepcopy(board)
    shown["panels"] = [p for p in board["panels"] if p.get("type") != "row"]
    return shown


def unaligned(board: dict[str, Any]) -> dict[str, Any]:
    """The dashboard as it was before issue 16: ``now-1h`` .. ``now``, overrides ending at ``now``."""
    old = copy.deepcopy(board)
    old["time"] = {"from": "now-1h", "to": "now"}
    for panel in old["panels"]:
        panel.pop("timeShift", None)
    return old


class _Sql:
    """Every visible ClickHouse panel's SQL for a viewer at a moment (memoised: viewers share views)."""

    def __init__(self, board: dict[str, Any]) -> None:
        self.board = board
        self.names = [v["name"] for v in board.get("templating", {}).get("list", [])]
        self.memo: dict[tuple[Any, ...], list[tuple[str, str]]] = {}

    def panels(self, viewer: Viewer, now_ms: int, wide: bool) -> list[tuple[str, str]]:
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        board = self.board
        if wide:
            board = {**board, "time": {"from": WIDE_RANGE[0], "to": WIDE_RANGE[1]}}
        window = dashboard_range(board, now)
        key = (window.from_ms, window.to_ms, viewer.chosen, wide)
        if key not in self.memo:
            chosen = dict(viewer.chosen)
            states = {n: VariableState(n, [chosen.get(n, ALL)]) for n in self.names}
            ctx_range = TimeRange(window.from_ms, window.to_ms, now_ms)
            self.memo[key] = [(q.title, q.sql) for q in expand(board, ctx_range, states)]
            if len(self.memo) > 20_000:
                self.memo.clear()
        return self.memo[key]


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _cache_events(client: Client) -> tuple[int, int]:
    result = client.query(
        "SELECT event, value FROM system.events WHERE event IN ('QueryCacheHits', 'QueryCacheMisses')"
    )
    rows: dict[str, int] = {str(name): int(value) for name, value in result.result_rows}
    return rows.get("QueryCacheHits", 0), rows.get("QueryCacheMisses", 0)


class _Ingest(threading.Thread):
    """Live ingest beside the viewers: ``rate`` synthetic events per second, one insert a second.

    The writer waits for a connection as long as it takes (``queue_max_wait_ms``): under read load the
    bridge sheds dashboard queries, not ingest."""

    def __init__(self, client: Client, rate: int) -> None:
        super().__init__(name="ingest", daemon=True)
        self.client, self.rate = client, rate
        self.stop = threading.Event()
        self.durations: list[float] = []
        self.rows = 0
        self.errors: dict[str, int] = {}

    def run(self) -> None:
        from pulse.bench.synthetic import load

        while self.rate and not self.stop.is_set():
            started = time.perf_counter()
            end = datetime.now(UTC)
            try:
                load(self.client, self.rate, days=1 / 86400, end=end, chunk=self.rate)
            except Exception as failure:  # counted, not fatal: the figure is how often ingest failed
                self.errors[type(failure).__name__] = self.errors.get(type(failure).__name__, 0) + 1
            else:
                self.durations.append(time.perf_counter() - started)
                self.rows += self.rate
            self.stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))


async def _run_mode(
    mode: Mode,
    board: dict[str, Any],
    tabs: list[Viewer],
    *,
    url: str,
    auth: tuple[str, str],
    database: str,
    refresh_s: float,
    seconds: float,
    connections: int,
) -> tuple[list[tuple[Viewer, float]], list[tuple[str, float]], dict[str, int], tuple[float, float]]:
    sql = _Sql(board if mode.aligned else unaligned(board))
    params: dict[str, str] = {"database": database}
    if mode.cache:
        params.update(QUERY_CACHE_SETTINGS)
    if mode.limits:
        profile = Profile()
        params.update(max_threads=str(profile.max_threads), priority=str(profile.priority))
    else:
        params["queue_max_wait_ms"] = str(UNBOUNDED_WAIT_MS)
    loads: list[tuple[Viewer, float]] = []
    panel_times: list[tuple[str, float]] = []
    errors: dict[str, int] = {}
    distinct: dict[int, set[str]] = {}
    sent: dict[int, int] = {}
    gate = asyncio.Semaphore(connections)  # Grafana's pool of connections to ClickHouse
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(30.0)  # the data source's queryTimeout
    started = time.monotonic()
    stop_at = started + seconds

    async with httpx.AsyncClient(base_url=url, auth=auth, limits=limits, timeout=timeout) as http:

        async def panel(title: str, text: str) -> bool:
            async with gate:
                began = time.perf_counter()
                try:
                    response = await http.post("/", params=params, content=text.encode())
                except httpx.HTTPError as failure:
                    errors[type(failure).__name__] = errors.get(type(failure).__name__, 0) + 1
                    return False
                panel_times.append((title, time.perf_counter() - began))
                if response.status_code != 200:
                    errors[f"http {response.status_code}"] = errors.get(f"http {response.status_code}", 0) + 1
                    return False
                return True

        async def tab(viewer: Viewer) -> None:
            await asyncio.sleep(viewer.offset_s)
            next_at = time.monotonic()
            while next_at < stop_at:
                now_ms = int(time.time() * 1000)
                queries = sql.panels(viewer, now_ms, viewer.kind == "unusual")
                period = int((next_at - started) // refresh_s)
                distinct.setdefault(period, set()).update(q for _, q in queries)
                sent[period] = sent.get(period, 0) + len(queries)
                began = time.perf_counter()
                outcomes = await asyncio.gather(*(panel(title, text) for title, text in queries))
                if all(outcomes):
                    loads.append((viewer, time.perf_counter() - began))
                next_at = max(next_at + refresh_s, time.monotonic())
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        await asyncio.gather(*(tab(v) for v in tabs))
    whole = [p for p in distinct if 0 < p < max(distinct)]  # the first and last periods are partial
    unique = sum(len(distinct[p]) for p in whole) / max(1, len(whole))
    total = sum(sent[p] for p in whole) / max(1, len(whole))
    return loads, panel_times, errors, (unique, total)


def run(
    settings: Settings,
    client: Client,
    board: dict[str, Any],
    *,
    users: int,
    refresh_s: float,
    seconds: float,
    modes: Iterable[str],
    ingest_rate: int,
    connections: int,
    pid: int | None,
) -> Figures:
    """Every mode in turn, against the same warehouse, with ingest running throughout each."""
    shown = visible(board)
    names = [v["name"] for v in shown.get("templating", {}).get("list", [])]
    options = _options(client, shown, names)
    tabs = viewers(users, refresh_s, options)
    figures = Figures(
        users=users,
        refresh_s=refresh_s,
        events=int(client.command("SELECT count() FROM events")),  # type: ignore[arg-type]
        ingest_rate=ingest_rate,
        connections=connections,
    )
    ck = settings.clickhouse
    for name in modes:
        mode = MODES[name]
        ingest = _Ingest(_writer(settings), ingest_rate)
        load_start = os.getloadavg()
        cpu0, cache0 = _cpu_s(pid), _cache_events(client)
        ingest.start()
        began = time.monotonic()
        loads, panel_times, errors, distinct = asyncio.run(
            _run_mode(
                mode,
                shown,
                tabs,
                url=ck.url,
                auth=(ck.username, ck.password),
                database=ck.database,
                refresh_s=refresh_s,
                seconds=seconds,
                connections=connections,
            )
        )
        elapsed = time.monotonic() - began
        ingest.stop.set()
        ingest.join()
        cpu = _cpu_s(pid) - cpu0
        hits, misses = (after - before for after, before in zip(_cache_events(client), cache0, strict=True))
        by_panel: dict[str, list[float]] = {}
        for title, seconds_taken in panel_times:
            by_panel.setdefault(title, []).append(seconds_taken)
        figures.modes.append(
            ModeFigures(
                mode=name,
                seconds=round(elapsed, 1),
                loads=len(loads),
                loads_per_s=round(len(loads) / elapsed, 2),
                offered_loads_per_s=round(users / refresh_s, 2),
                dashboard=Percentiles.of([s for _, s in loads]),
                dashboard_default_viewers=Percentiles.of([s for v, s in loads if v.kind == "default"]),
                dashboard_unusual_viewer=Percentiles.of([s for v, s in loads if v.kind == "unusual"]),
                panel=Percentiles.of([s for _, s in panel_times]),
                panels={title: Percentiles.of(samples) for title, samples in sorted(by_panel.items())},
                errors=errors,
                warehouse_cpu_s=round(cpu, 1),
                warehouse_cpu_ms_per_load=round(cpu * 1000 / max(1, len(loads)), 1),
                warehouse_rss_mib=_rss_mib(pid),
                cache_hits=hits,
                cache_misses=misses,
                cache_hit_ratio=round(hits / max(1, hits + misses), 3),
                distinct_sql_per_refresh=round(distinct[0], 1),
                panel_queries_per_refresh=round(distinct[1], 1),
                cache_ceiling=round(1 - distinct[0] / max(1.0, distinct[1]), 3),
                ingest_rows_per_s=round(ingest.rows / elapsed, 1),
                ingest_insert=Percentiles.of(ingest.durations),
                ingest_errors=ingest.errors,
                loadavg_start=load_start,
                loadavg_end=os.getloadavg(),
            )
        )
    return figures


def _writer(settings: Settings) -> Client:
    from pulse.warehouse.client import connect

    client = connect(settings)
    client.set_client_setting("queue_max_wait_ms", UNBOUNDED_WAIT_MS)
    return client


def _options(client: Client, board: dict[str, Any], names: list[str]) -> dict[str, list[str]]:
    """The variables' values, from their own queries (what a viewer's drop-downs offer)."""
    from pulse.grafana.emulation.render import resolve_variables

    end = datetime.now(UTC)
    states = resolve_variables(board, client, TimeRange.between(end - timedelta(hours=1), end))
    return {name: list(states[name].options) for name in names if name in states}


def _trio(p: Percentiles) -> str:
    return f"{p.p50_ms:,.0f}/{p.p95_ms:,.0f}/{p.p99_ms:,.0f}"


def table_cells(m: ModeFigures) -> dict[str, str]:
    """One mode's column of the printed table, by row label."""
    slowest = max(m.panels.items(), key=lambda kv: kv[1].p95_ms, default=("-", Percentiles(0, 0, 0, 0)))
    unusual = m.dashboard_unusual_viewer
    return {
        "loads/s (offered)": f"{m.loads_per_s:,.1f} ({m.offered_loads_per_s:,.1f})",
        "dashboard p50/p95/p99 ms": _trio(m.dashboard),
        "  default viewers p50/p95/p99 ms": _trio(m.dashboard_default_viewers),
        "  unusual viewer p50/p95 ms": f"{unusual.p50_ms:,.0f}/{unusual.p95_ms:,.0f} ({unusual.count} loads)",
        "panel p50/p95/p99 ms": _trio(m.panel),
        "slowest panel (p95 ms)": f"{slowest[0][:28]} ({slowest[1].p95_ms:,.0f})",
        "errors": ", ".join(f"{k}: {v}" for k, v in m.errors.items()) or "0",
        "warehouse CPU s (ms/load)": f"{m.warehouse_cpu_s:,.1f} ({m.warehouse_cpu_ms_per_load:,.0f})",
        "warehouse RSS MiB": f"{m.warehouse_rss_mib:,.0f}",
        "cache hits/misses": f"{m.cache_hits:,}/{m.cache_misses:,} ({m.cache_hit_ratio:.0%})",
        "distinct SQL / panel queries per refresh": (
            f"{m.distinct_sql_per_refresh:,.0f} / {m.panel_queries_per_refresh:,.0f}"
            f" (cache ceiling {m.cache_ceiling:.0%})"
        ),
        "ingest rows/s, insert p50/p99 ms": (
            f"{m.ingest_rows_per_s:,.0f}, {m.ingest_insert.p50_ms:,.0f}/{m.ingest_insert.p99_ms:,.0f}"
        ),
        "ingest errors": ", ".join(f"{k}: {v}" for k, v in m.ingest_errors.items()) or "0",
        "load average start -> end": f"{m.loadavg_start[0]:.1f} -> {m.loadavg_end[0]:.1f}",
    }


def as_dict(figures: Figures) -> dict[str, Any]:
    return asdict(figures)


def clickhouse_panels(board: dict[str, Any]) -> int:
    """How many panel queries one load of ``board`` sends to ClickHouse."""
    return sum(
        1
        for panel in visible(board)["panels"]
        for target in panel.get("targets", []) or []
        if ((target.get("datasource") or panel.get("datasource") or {}).get("uid")) == CLICKHOUSE["uid"]
    )
