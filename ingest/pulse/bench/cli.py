"""`pulse bench ...`: benchmarks that print figures (speed targets are checked here, not in tests)."""

from __future__ import annotations

import orjson
import typer
from rich.console import Console
from rich.table import Table

from pulse.settings import get_settings

app = typer.Typer(help="Benchmarks that print measured figures.", no_args_is_help=True)


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
    from pulse.pipeline import ensure_running, stop_services
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
    if as_json:
        print(orjson.dumps(result.as_dict()).decode())
        return
    table = Table(title=f"pulse bench e2e: {rate:,.0f} events/s offered for {seconds:.0f} s", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in result.as_dict().items():
        table.add_row(
            name.replace("_", " "), f"{value:,}" if isinstance(value, int) else f"{value:,.3f}".rstrip("0").rstrip(".")
        )
    console.print(table)
