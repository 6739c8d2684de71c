"""`pulse loader run`: the Kafka -> warehouse loader as a long-running service."""

from __future__ import annotations

import asyncio

import typer
from prometheus_client import start_http_server

from pulse.contracts.events import WAREHOUSE_FAMILIES, Family
from pulse.logs import configure_logging
from pulse.settings import get_settings
from pulse.worker.resilience import run_until_signalled

app = typer.Typer(help="The Kafka -> ClickHouse loader (exactly-once offset-range batches).", no_args_is_help=True)


@app.command()
def run(
    metrics_port: int = typer.Option(None, help="Prometheus /metrics port (default: settings.loader.metrics_port)"),
) -> None:
    """Consume the warehouse topics and load them until SIGTERM/SIGINT, then flush and commit."""
    from pulse.loader.consumer import Loader
    from pulse.loader.sink import WarehouseSink
    from pulse.warehouse.client import connect

    settings = get_settings()
    configure_logging(settings.log_level, service="loader")
    start_http_server(metrics_port or settings.loader.metrics_port, addr=settings.stack.host)
    # the dead-letter topic lands in rejected_events, so rejected input is queryable next to events
    topics = [settings.kafka.topic(family) for family in (*WAREHOUSE_FAMILIES, Family.DEAD_LETTER)]

    async def main() -> None:
        loader = Loader(settings, WarehouseSink(lambda: connect(settings)), topics)
        await run_until_signalled(loader.stop, loader.run)

    asyncio.run(main())
