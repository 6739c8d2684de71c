"""`pulse stack install | up | down | status`: the local stack for development and tests."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pulse.settings import get_settings
from pulse.stack import stack
from pulse.stack.service import Service
from pulse.stack.stack import ServiceStatus

app = typer.Typer(help="Start, stop and inspect the local stack (Kafka, Redis, S3, warehouse).", no_args_is_help=True)
console = Console()

Only = Annotated[
    str,
    typer.Option(
        "--only",
        help=f"comma-separated subset of: {', '.join(stack.NAMES)} (default: all)",
        show_default=False,
    ),
]


def _services(only: str) -> list[Service]:
    return stack.select(only.split(",") if only else None)


def _table(rows: list[ServiceStatus], title: str) -> Table:
    table = Table(title=title)
    for column in ("service", "running", "pid", "port", "healthy"):
        table.add_column(column)
    table.add_column("log", overflow="fold")
    for row in rows:
        table.add_row(
            row.name,
            "[green]yes[/]" if row.running else "[red]no[/]",
            str(row.pid or "-"),
            str(row.port),
            "[green]yes[/]" if row.healthy else "[red]no[/]",
            str(row.log),
        )
    return table


@app.command()
def install(only: Only = "") -> None:
    """Download Kafka and s3proxy jars (Maven Central) and apt-install redis-server, once; cached."""
    settings = get_settings()
    with console.status("installing…"):
        done = stack.install(settings, _services(only))
    for name, downloaded in done.items():
        console.print(f"{name}: {'[green]installed[/]' if downloaded else 'ready (nothing to download)'}")
    console.print(f"cache: {settings.stack.cache_dir}")


@app.command()
def up(only: Only = "") -> None:
    """Start the services (installing them first if needed) and wait until each is healthy."""
    settings = get_settings()
    with console.status("starting…") as spinner:
        rows = stack.up(settings, _services(only), progress=spinner.update)
    console.print(_table(rows, f"Pulse stack ({settings.stack.home})"))


@app.command()
def down(only: Only = "") -> None:
    """Stop the services in reverse order, with every process they spawned."""
    settings = get_settings()
    stopped = stack.down(settings, _services(only))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(only: Only = "") -> None:
    """Show each service's process, port, health and log; exit code 1 if any is down or unhealthy."""
    settings = get_settings()
    rows = stack.status(settings, _services(only))
    console.print(_table(rows, f"Pulse stack ({settings.stack.home})"))
    if not all(row.running and row.healthy for row in rows):
        raise typer.Exit(1)
