"""``pulse grafana generate | check | preview`` and ``pulse bench dashboards``."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.errors import PulseError
from pulse.grafana import generate as gen
from pulse.grafana.dashboards import DASHBOARDS, unified
from pulse.grafana.emulation.render import PanelQuery, expand, now_range, resolve_variables
from pulse.settings import Settings
from pulse.warehouse.client import ClientPerThread, connect

app = typer.Typer(help="Grafana as code: dashboards, provisioning, SSO, previews.", no_args_is_help=True)
console = Console()


Root = Annotated[
    Path, typer.Option(help="the checkout whose provisioning/ is written or checked (the Helm chart links to it)")
]


@app.command("generate")
def generate_command(root: Root = Path()) -> None:
    """Write dashboards JSON and provisioning YAML into ROOT/provisioning/."""
    for path in gen.write(root):
        console.print(path)


@app.command("check")
def check_command(root: Root = Path()) -> None:
    """Fail when committed generated files differ from what `generate` writes."""
    stale = gen.check(root)
    if stale:
        raise PulseError("stale generated files (run `pulse grafana generate`): " + ", ".join(stale))
    console.print("[green]generated files are up to date[/]")


@app.command("preview")
def preview_command(
    out: Annotated[Path, typer.Option(help="folder for the PNGs")] = Path("previews"),
    span: Annotated[int, typer.Option(help="time range in seconds, ending now")] = 3600,
    demo: Annotated[int, typer.Option(help="first load this many minutes of generated traffic")] = 0,
) -> None:
    """Render every dashboard's panels from real query results into PNGs."""
    from pulse.grafana.emulation.demo import live_traffic
    from pulse.grafana.emulation.preview import render

    client = connect(Settings())
    if demo:
        truth, _ = live_traffic(client, minutes=demo)
        console.print(f"loaded {truth.events:,} generated events")
    for module in DASHBOARDS:
        path = render(gen.dashboard_json(module), client, now_range(span), out / f"{module.UID}.png")
        console.print(f"wrote {path}")


def bench_dashboards(
    rounds: Annotated[int, typer.Option(help="dashboard loads")] = 20,
    concurrency: Annotated[int, typer.Option(help="queries in flight (Grafana runs panels in parallel)")] = 8,
    span: Annotated[int, typer.Option(help="time range in seconds, ending now")] = 3600,
    at_newest: Annotated[
        bool,
        typer.Option(help="end the range at the newest stored event instead of now (a dataset loaded earlier)"),
    ] = False,
) -> None:
    """Run the unified dashboard's expanded query set concurrently; print per-query and per-load p50/p95."""
    settings = Settings()
    board = gen.dashboard_json(unified)
    client = connect(settings)
    end = None
    if at_newest:
        newest_ms = int(client.command("SELECT toUnixTimestamp64Milli(max(event_time)) FROM events"))  # type: ignore[arg-type]
        end = datetime.fromtimestamp(newest_ms / 1000, UTC)
    window = now_range(span, end)
    variables = resolve_variables(board, client, window)
    queries = expand(board, window, variables)
    # One session per thread, as each of Grafana's connections is.
    sessions = ClientPerThread(lambda: connect(settings))

    by_panel: dict[str, list[float]] = {}

    def one(query: PanelQuery) -> float:
        began = time.perf_counter()
        sessions.client.query(query.sql)
        spent = time.perf_counter() - began
        by_panel.setdefault(f"{query.title} [{query.named or 'sql'}]", []).append(spent)
        return spent

    per_query: list[float] = []
    per_load: list[float] = []
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(rounds):
            if end is None:  # each load asks for the range ending now, as Grafana does at every refresh
                queries = expand(board, now_range(span), variables)
            began = time.perf_counter()
            per_query += list(pool.map(one, queries))
            per_load.append(time.perf_counter() - began)
    events = client.command("SELECT count() FROM events")

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000

    console.print(f"dataset: {events:,} events; {len(queries)} queries x {rounds} loads, concurrency {concurrency}")
    console.print(f"query  p50 {pct(per_query, 50):.1f} ms  p95 {pct(per_query, 95):.1f} ms")
    console.print(f"whole dashboard  p50 {pct(per_load, 50):.1f} ms  p95 {pct(per_load, 95):.1f} ms")
    table = Table(title="per panel (slowest first)")
    for column in ("panel [query]", "p50 ms", "p95 ms"):
        table.add_column(column)
    for title, spent in sorted(by_panel.items(), key=lambda item: -pct(item[1], 95)):
        table.add_row(escape(title), f"{pct(spent, 50):.1f}", f"{pct(spent, 95):.1f}")
    console.print(table)


def register(root: typer.Typer, bench: typer.Typer | None = None) -> None:
    root.add_typer(app, name="grafana")
    if bench is not None:
        bench.command("dashboards")(bench_dashboards)
