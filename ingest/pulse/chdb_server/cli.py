"""`pulse warehouse serve`: the embedded warehouse (chDB behind ClickHouse's HTTP interface)."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse.settings import get_settings

app = typer.Typer(help="The embedded warehouse (chDB behind ClickHouse's HTTP interface).", no_args_is_help=True)


@app.command()
def serve(
    pool_size: Annotated[
        int | None,
        typer.Option(min=1, help="chDB connections = queries run at once (default: clickhouse.embedded_pool_size)"),
    ] = None,
    port: Annotated[int | None, typer.Option(help="default: the port of PULSE_CLICKHOUSE__URL")] = None,
) -> None:
    """Own the chDB data path and serve ClickHouse's HTTP interface on loopback until SIGTERM."""
    from pulse.chdb_server.serve import serve as run

    run(get_settings(), pool_size=pool_size, port=port)
