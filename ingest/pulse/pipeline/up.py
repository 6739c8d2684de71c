"""`pulse up`: the main job. The whole pipeline on the embedded default, fed with live traffic.

Starts what is not running (Kafka, Redis, S3, the chDB warehouse, the collector, the loader),
sends generated social traffic at a steady rate and shows it arriving, until Ctrl-C; then stops
everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pulse.generator.sender import Progress, send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator, default_bursts
from pulse.pipeline.monitor import Snapshot, snapshot
from pulse.pipeline.services import ensure_running, stop_services
from pulse.settings import Settings, get_settings

FOREVER_S = 10 * 365 * 24 * 3600.0
DEMO_WRITE_KEY = "wk_local_demo"

#: The traffic clock starts this far ahead: building the synthetic population takes about a
#: second, and the paced sender waits for the wall clock, so event times stay honest.
POPULATION_BUILD_ALLOWANCE = timedelta(seconds=3)


def _view(settings: Settings, progress: Progress, shot: Snapshot | None, stored_rate: float) -> Group:
    table = Table(title="Pulse: live pipeline (Ctrl-C stops everything)", title_justify="left")
    for column in ("", "value"):
        table.add_column(column, justify="right" if column else "left")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value / 1000:.2f} s"

    rows = [
        ("sent (acknowledged by the collector)", f"{progress.acknowledged:,}"),
        ("not acknowledged", f"{progress.unacknowledged:,}"),
        ("stored in ClickHouse", "-" if shot is None else f"{shot.stored:,}"),
        ("stored per second", f"{stored_rate:,.0f}"),
        ("loader consumer lag (messages)", "-" if shot is None or shot.lag is None else f"{shot.lag:,}"),
        (
            "freshness p50 / p99 (event -> dashboard)",
            "-" if shot is None else f"{ms(shot.freshness_p50_ms)} / {ms(shot.freshness_p99_ms)}",
        ),
        ("poison messages dead-lettered by the loader", "-" if shot is None else f"{shot.loader_dead_letters:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    footer = (
        f"collector http://{settings.collector.host}:{settings.collector.port}/v1/batch · "
        f"warehouse {settings.clickhouse.url} (database {settings.clickhouse.database}) · "
        f"logs {settings.stack.logs_dir}"
    )
    return Group(table, footer)


async def _run_live(settings: Settings, console: Console, rate: float, seed: int, seconds: float) -> None:
    from pulse.warehouse.client import connect

    client = connect(settings)
    generator = TrafficGenerator(
        TrafficConfig(
            seed=seed,
            start=datetime.now(UTC) + POPULATION_BUILD_ALLOWANCE,
            rate=rate,
            bursts=default_bursts(seed, min(seconds, 900.0)),
        )
    )
    progress = Progress()

    def on_progress(update: Progress) -> None:
        nonlocal progress
        progress = update

    url = f"http://{settings.collector.host}:{settings.collector.port}"
    sending = asyncio.create_task(
        send(generator, url, DEMO_WRITE_KEY, seconds=seconds, paced=True, on_progress=on_progress)
    )
    shot: Snapshot | None = None
    previous: tuple[float, int] | None = None
    stored_rate = 0.0
    with Live(_view(settings, progress, shot, stored_rate), console=console, refresh_per_second=2) as live:
        while not sending.done():
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):  # a warehouse restart must not end the live view
                shot = await asyncio.to_thread(snapshot, client, settings)
                now = time.monotonic()
                if previous is not None and now > previous[0]:
                    stored_rate = (shot.stored - previous[1]) / (now - previous[0])
                previous = (now, shot.stored)
            live.update(_view(settings, progress, shot, stored_rate))
    await sending


def register(root: typer.Typer) -> None:
    """Add `pulse up`."""

    @root.command()
    def up(
        rate: float = typer.Option(500.0, min=1, help="generated events per second"),
        seed: int = typer.Option(0, help="seed of the synthetic population and traffic"),
        seconds: float = typer.Option(FOREVER_S, min=1, help="stop after this many seconds (default: until Ctrl-C)"),
        keep: bool = typer.Option(False, help="leave the services running afterwards"),
    ) -> None:
        """Start the whole local pipeline and feed it live social traffic, with live progress."""
        settings = get_settings()
        console = Console()
        started: list[str] = []
        try:
            with console.status("starting the local stack ...") as status:
                started = ensure_running(settings, progress=lambda message: status.update(message))
            console.print(f"[green]running[/]: {', '.join(started) or 'everything was already up'}")
            asyncio.run(_run_live(settings, console, rate, seed, seconds))
        except KeyboardInterrupt:
            console.print("stopping ...")
        finally:
            if not keep:
                with console.status("stopping what was started ..."):
                    stop_services(settings, started)
                console.print(f"[green]stopped[/]: {', '.join(started) or 'nothing'}")
