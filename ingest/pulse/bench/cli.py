"""`pulse bench ...`: benchmarks that print figures (speed targets are checked here, not in tests)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import orjson
import typer
from clickhouse_connect.driver.client import Client
from rich.console import Console
from rich.table import Table

from pulse.settings import get_settings

app = typer.Typer(help="Benchmarks that print measured figures.", no_args_is_help=True)
#: The warehouse-size options of the query benchmarks (queries, api), which measure the same generated data.
Events = Annotated[int, typer.Option(min=1, help="events the warehouse should hold (generated if fewer)")]
Days = Annotated[float, typer.Option(min=0.01, help="span of the generated events, ending now")]


@app.command()
def e2e(
    rate: float = typer.Option(2_000.0, min=1, help="offered events per second"),
    seconds: float = typer.Option(30.0, min=1, help="how long to send"),
    seed: int = typer.Option(1, help="traffic seed"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
    keep: bool = typer.Option(False, help="leave services this run started running afterwards"),
) -> None:
    """Sustained stored events/s and p50/p99 freshness (event time -> visible in the rollup)."""
    from pulse.bench.e2e import run_e2e
    from pulse.pipeline.services import ensure_running, stop_services
    from pulse.warehouse.client import connect

    settings = get_settings()
    console = Console(stderr=as_json)
    started: list[str] = []
    try:
        with console.status("starting the local stack ...") as status:
            started = ensure_running(settings, progress=lambda message: status.update(message))
        with console.status(f"sending {rate:,.0f} events/s for {seconds:.0f} s ..."):
            result = run_e2e(settings, connect(settings), rate=rate, seconds=seconds, seed=seed)
    finally:
        if not keep:
            stop_services(settings, started)
    _print_figures(
        console, asdict(result), f"pulse bench e2e: {rate:,.0f} events/s offered for {seconds:.0f} s", as_json
    )


@app.command()
def metrics(
    extra: int = typer.Option(10, "--metrics", min=1, help="synthetic generated metrics to add"),
    batch: int = typer.Option(5_000, min=1, help="events per insert (the loader inserts one Kafka batch per block)"),
    inserts: int = typer.Option(20, min=1, help="inserts measured without and with the metrics"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
) -> None:
    """What N generated metrics add per insert and per stored event (in-process chDB, shipped schema)."""
    from pulse.bench.metrics import measure

    console = Console(stderr=as_json)
    with console.status(f"inserting {inserts} blocks of {batch:,} events without, then with {extra} metrics ..."):
        result = measure(extra, batch=batch, inserts=inserts)
    _print_figures(console, asdict(result), f"pulse bench metrics: {extra} generated metrics", as_json)


@app.command()
def views(
    sizes: str = typer.Option("100,1000,10000", help="events per insert, comma-separated"),
    inserts: int = typer.Option(10, min=1, help="inserts measured per size"),
    hour_events: int = typer.Option(1_000_000, min=1_000, help="events in the last hour the refreshes recompute"),
    repeat: int = typer.Option(3, min=1, help="runs of each refresh (the median is shown)"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
) -> None:
    """CPU per insert of the view cascade (fixed and per event) and per live-snapshot refresh (in-process chDB)."""
    from pulse.bench.views import measure

    console = Console(stderr=as_json)
    with console.status("inserting, then refreshing the live snapshots ..."):
        result = measure(
            sizes=[int(size) for size in sizes.split(",")], inserts=inserts, hour_events=hour_events, repeat=repeat
        )
    if as_json:
        print(orjson.dumps(asdict(result)).decode())
        return
    table = Table("events per insert", "inserts", "CPU ms per insert", "CPU µs per event", title="pulse bench views")
    for cost in result.inserts:
        table.add_row(f"{cost.rows_per_insert:,}", str(cost.inserts), f"{cost.cpu_ms_per_insert:,.2f}",
                      f"{cost.cpu_us_per_event:,.2f}")  # fmt: skip
    console.print(table)
    refreshes = Table(
        "refreshed view",
        "CPU ms per refresh",
        "cores at its period",
        title=f"{result.hour_events:,} events in the last hour",
    )
    for refresh in result.refreshes:
        refreshes.add_row(refresh.view, f"{refresh.cpu_ms_per_refresh:,.1f}", f"{refresh.cores_at_its_period:.3f}")
    console.print(refreshes)
    console.print(
        f"{result.materialized_views} materialized views; per insert {result.fixed_cpu_ms_per_insert} ms CPU "
        f"+ {result.marginal_cpu_us_per_event} µs per event; load average {result.load_average}"
    )


@app.command()
def queries(
    events: Events = 100_000_000,
    days: Days = 1.0,
    repeat: int = typer.Option(20, min=1, help="runs of each dashboard query"),
    ad_hoc_repeat: int = typer.Option(5, min=1, help="runs of the ad-hoc raw aggregation"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
) -> None:
    """p50/p95 of every named query, the whole set, and ad-hoc aggregations over every raw row."""
    from pulse.bench.queries import measure
    from pulse.stack import stack
    from pulse.warehouse.client import connect

    settings = get_settings()
    console = Console(stderr=as_json)
    client = connect(settings, send_receive_timeout=3600)
    present, load_s = _ensure_events(client, events, days, console)
    end = _dashboard_end(client)
    pid = stack.supervisor(settings).state("warehouse").pid
    with console.status("measuring ...") as status:
        figures = measure(
            lambda: connect(settings),
            end,
            repeat=repeat,
            ad_hoc_repeat=ad_hoc_repeat,
            pid=pid,
            on_timing=lambda t: status.update(f"measured {t.name}: p50 {t.p50_ms:,.1f} ms, p95 {t.p95_ms:,.1f} ms"),
        )
    figures.loaded, figures.load_s = max(0, events - present), round(load_s, 1)
    if as_json:
        print(orjson.dumps(asdict(figures)).decode())
        return
    table = Table(title=f"pulse bench queries: {figures.events:,} events, dashboard ending {end:%Y-%m-%d %H:%M} UTC")
    for column in ("query", "p50 ms", "p95 ms", "rows"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for timing in [*figures.timings, *figures.ad_hoc]:
        table.add_row(timing.name, f"{timing.p50_ms:,.1f}", f"{timing.p95_ms:,.1f}", f"{timing.rows:,}")
    console.print(table)
    console.print(
        f"all named queries ({len(figures.timings)}): {figures.dashboard_sequential_ms:,.1f} ms one after"
        f" another, {figures.dashboard_parallel_ms:,.1f} ms on 4 connections at once"
    )
    if figures.loaded:
        console.print(f"loaded {figures.loaded:,} events in {figures.load_s:,.1f} s")
    console.print(f"warehouse memory: {figures.rss_mib:,.0f} MiB resident, {figures.peak_rss_mib:,.0f} MiB peak")


@app.command()
def tiers(
    events: int = typer.Option(300_000, min=1_000, help="synthetic enriched events pushed through each stage"),
    hot_batch: int = typer.Option(20_000, min=1, help="events per hot-layer apply (settings.hot.max_batch_rows)"),
    archive_batch: int = typer.Option(100_000, min=1, help="events per archive object"),
    partitions: int = typer.Option(2, min=1, help="Kafka partitions the events are archived from"),
    seed: int = typer.Option(1, help="synthetic traffic seed"),
    replay_workers: int = typer.Option(2, min=1, help="batches of objects replayed at once"),
    replay_batch_rows: int = typer.Option(
        0, min=0, max=1 << 20, help="offsets per replay insert (0: settings.archive.replay_batch_rows)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
) -> None:
    """Hot-layer updates/s, archive events/s and replay rows/s on this machine (needs the stack up)."""
    from pulse.bench.tiers import run_tiers

    settings = get_settings()
    console = Console(stderr=as_json)
    with console.status(f"measuring the tiers with {events:,} events ..."):
        result = run_tiers(
            settings,
            events=events,
            hot_batch=hot_batch,
            archive_batch=archive_batch,
            seed=seed,
            partitions=partitions,
            replay_workers=replay_workers,
            replay_batch_rows=replay_batch_rows or None,
        )
    _print_figures(console, asdict(result), f"pulse bench tiers: {events:,} events per stage", as_json)


def _ensure_events(client: Client, events: int, days: float, console: Console) -> tuple[int, float]:
    """Generate events until the warehouse holds ``events``; return those present before and the load's seconds."""
    import time
    from datetime import UTC, datetime

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from pulse.bench.synthetic import load

    present = int(client.command("SELECT count() FROM events"))  # type: ignore[arg-type]
    if present >= events:
        return present, 0.0
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with Progress(
        TextColumn("generating events"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("load", total=events - present)
        started = time.perf_counter()
        load(client, events - present, days=days, end=end, on_rows=lambda n: progress.advance(task, n))
    return present, time.perf_counter() - started


def _dashboard_end(client: Client) -> datetime:
    """The hour after the newest event: the dashboards' ranges end there."""
    from datetime import UTC, datetime

    newest = client.command("SELECT toUnixTimestamp(max(event_time)) FROM events")
    return datetime.fromtimestamp(int(newest) // 3600 * 3600 + 3600, UTC)  # type: ignore[arg-type]


@app.command()
def api(
    events: Events = 100_000_000,
    days: Days = 1.0,
    repeat: int = typer.Option(20, min=1, help="calls of each dashboard query"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
) -> None:
    """p50/p95/p99 of the dashboard's named queries through the read API (target: p95 < 200 ms at 100M events)."""
    from pulse.access.definition import DEFINITION, load
    from pulse.bench.api import measure_api
    from pulse.warehouse.client import connect

    settings = get_settings()
    load(settings.api.definition or DEFINITION)  # a missing definition fails now, not after generating the events
    console = Console(stderr=as_json)
    client = connect(settings, send_receive_timeout=3600)
    _ensure_events(client, events, days, console)
    end = _dashboard_end(client)
    with console.status("measuring ...") as status:
        figures = measure_api(
            settings,
            client,
            end,
            repeat=repeat,
            on_timing=lambda t: status.update(f"measured {t.name}: p95 {t.p95_ms:,.1f} ms"),
        )
    if as_json:
        print(orjson.dumps(asdict(figures)).decode())
        return
    table = Table(title=f"pulse bench api: {figures.events:,} events, {repeat} calls each, as Admin")
    for column in ("query", "p50 ms", "p95 ms", "p99 ms", "direct p95 ms", "rows"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for t in figures.timings:
        table.add_row(t.name, *(f"{v:,.1f}" for v in (t.p50_ms, t.p95_ms, t.p99_ms, t.direct_p95_ms)), f"{t.rows:,}")
    console.print(table)
    console.print(
        f"every call: p50 {figures.p50_ms:,.1f} ms, p95 {figures.p95_ms:,.1f} ms, p99 {figures.p99_ms:,.1f} ms"
        f" (directly: p95 {figures.direct_p95_ms:,.1f} ms); p95 at or over 200 ms:"
        f" {', '.join(figures.over_200ms_p95) or 'none'}"
    )


@app.command()
def overload(
    multiples: str = typer.Option("0.5,1,2,4,8", help="offered rates, as multiples of the sustainable rate"),
    seconds: float = typer.Option(10.0, min=1, help="seconds each rate is offered"),
    drain: float = typer.Option(90.0, min=1, help="seconds a step's retries may take after it, at most"),
    workers: int = typer.Option(2, min=1, help="collector worker processes"),
    batch: int = typer.Option(20, min=1, help="events per request"),
    max_in_flight: int = typer.Option(0, min=0, help="requests per worker before shedding (0: the setting)"),
    retry_after: int = typer.Option(1, min=1, help="Retry-After seconds the collector sends (SDKs wait that long)"),
    sustainable: float = typer.Option(0.0, min=0, help="events/s the collector sustains (0: measure it first)"),
    as_json: bool = typer.Option(False, "--json", help="print the run as one JSON object"),
) -> None:
    """Shedding at several times the sustainable rate: per step offered/accepted/503/429/timeouts/p99/RSS,
    then every offered event must be in Kafka (retries delivered it), every accepted one exactly once."""
    from pulse.bench.overload import run_overload

    settings = get_settings()
    console = Console(stderr=as_json)
    rates = [float(m) for m in multiples.split(",")]
    with console.status(f"offering {multiples} x the sustainable rate, {seconds:.0f} s each ..."):
        result = run_overload(
            settings,
            multiples=rates,
            seconds=seconds,
            drain_s=drain,
            workers=workers,
            batch_size=batch,
            max_in_flight=max_in_flight or settings.collector.max_in_flight,
            retry_after_s=retry_after,
            sustainable=sustainable or None,
        )
    if as_json:
        figures = asdict(result)
        for step in figures["steps"]:
            step.pop("latencies")
        print(orjson.dumps(figures).decode())
        return
    table = Table(
        title=(
            f"pulse bench overload: sustainable {result.sustainable_events_per_s:,.0f} events/s, "
            f"{result.workers} workers, max in flight {result.max_in_flight}/worker, Retry-After "
            f"{result.retry_after_s} s, batches of {result.batch_size}, load average "
            + " ".join(f"{x:.2f}" for x in result.load_average)
        ),
        title_justify="left",
    )
    for column in (
        "x",
        "offered ev/s",
        "offered",
        "accepted 1st try",
        "503",
        "429",
        "timeouts",
        "errors",
        "retries",
        "delivered",
        "undelivered",
        "p99 ms",
        "peak RSS MB",
        "drain s",
    ):
        table.add_column(column, justify="right")
    for s in result.steps:
        table.add_row(
            f"{s.multiple:g}",
            f"{s.offered_events_per_s:,.0f}",
            f"{s.offered:,}",
            f"{s.accepted_first_try:,}",
            f"{s.shed_503:,}",
            f"{s.limited_429:,}",
            f"{s.timeouts:,}",
            f"{s.other_errors:,}",
            f"{s.retries:,}",
            f"{s.delivered:,}",
            f"{s.undelivered:,}",
            f"{s.p99_ms:,.1f}",
            f"{s.peak_rss_mb:,.0f}",
            f"{s.drain_s:g}",
        )
    console.print(table)
    r = result.reconciliation
    console.print(
        f"knee: {result.knee_multiple:g} x = {result.knee_events_per_s:,.0f} events/s (highest rate with no "
        f"shedding); Kafka: {r.offered:,} offered, {r.accepted:,} accepted, {r.distinct_in_kafka:,} distinct in "
        f"Kafka, {r.missing:,} missing, {r.duplicated:,} duplicated ({r.accepted_duplicated:,} of them accepted "
        f"ids); collector CPU {result.collector_cpu_s:,.1f} s"
    )
    if r.missing or (result.steps and any(s.undelivered for s in result.steps)):
        raise typer.Exit(1)


def _print_figures(console: Console, figures: dict[str, float | int], title: str, as_json: bool) -> None:
    """One JSON object on stdout (for scripts), or a table of figure and value (for people)."""
    if as_json:
        print(orjson.dumps(figures).decode())
        return
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.3f}".rstrip("0").rstrip(".")
        table.add_row(name.replace("_", " "), text)
    console.print(table)


@app.command()
def properties(
    rows: int = typer.Option(1_000_000, min=1_000, help="custom events per layout"),
    repeat: int = typer.Option(5, min=1, help="runs per query (the median is shown)"),
) -> None:
    """String+JSONExtract vs Map vs JSON for custom-event properties: insert, size, filter and rollup times."""
    from pulse.bench.properties import QUERIES, run

    figures = run(rows, repeat)
    table = Table("layout", "insert s", "MB on disk", *QUERIES)
    for row in figures:
        table.add_row(
            row.layout,
            f"{row.insert_s:.2f}",
            f"{row.bytes_on_disk / 1e6:.1f}",
            *(f"{row.query_ms[name]:.1f} ms" for name in QUERIES),
        )
    Console().print(table)


@app.command()
def viewers(
    users: int = typer.Option(100, min=1, help="concurrent viewers of the unified dashboard"),
    refresh: str = typer.Option("5s", help="the dashboard's refresh (each viewer reloads this often)"),
    seconds: float = typer.Option(60.0, min=5, help="how long each mode runs"),
    modes: str = typer.Option(
        "baseline,aligned,aligned+cache,shipped", help="modes to run, in order (see pulse.bench.viewers.MODES)"
    ),
    events: int = typer.Option(0, min=0, help="events the warehouse should hold first (generated if fewer; 0: as is)"),
    days: Days = 1.0,
    ingest_rate: int = typer.Option(1_000, min=0, help="live events/s inserted while the viewers load"),
    connections: int = typer.Option(64, min=1, help="connections to the warehouse (Grafana's pool)"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
) -> None:
    """N staggered viewers refreshing the unified dashboard: loads/s, latency, errors, CPU, cache, per measure."""
    from pulse.bench.viewers import MODES, as_dict, clickhouse_panels, run, table_cells
    from pulse.grafana.dashboards import unified
    from pulse.grafana.emulation.macros import interval_to_ms
    from pulse.grafana.generate import dashboard_json
    from pulse.stack import stack
    from pulse.warehouse.client import connect

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODES]
    if unknown:
        raise typer.BadParameter(f"unknown modes {unknown}; known: {', '.join(MODES)}")
    settings = get_settings()
    console = Console(stderr=as_json)
    client = connect(settings, send_receive_timeout=3600)
    if events:
        _ensure_events(client, events, days, console)
    board = dashboard_json(unified)
    refresh_s = interval_to_ms(refresh) / 1000
    pid = stack.supervisor(settings).state("warehouse").pid
    with console.status(f"{users} viewers x {len(chosen)} modes x {seconds:.0f} s ..."):
        figures = run(
            settings,
            client,
            board,
            users=users,
            refresh_s=refresh_s,
            seconds=seconds,
            modes=chosen,
            ingest_rate=ingest_rate,
            connections=connections,
            pid=pid,
        )
    if as_json:
        print(orjson.dumps(as_dict(figures)).decode())
        return
    table = Table(
        title=f"pulse bench viewers: {users} viewers, refresh {refresh_s:g} s, {clickhouse_panels(board)} ClickHouse "
        f"panels a load, {figures.events:,} events, ingest {ingest_rate:,}/s offered",
        title_justify="left",
    )
    table.add_column("figure")
    for mode in figures.modes:
        table.add_column(mode.mode, justify="right")
    cells = [table_cells(m) for m in figures.modes]
    for label in cells[0] if cells else {}:
        table.add_row(label, *(c[label] for c in cells))
    console.print(table)
