"""`pulse loader run`: the Kafka -> warehouse loader as a long-running service."""

from __future__ import annotations

import typer

from pulse.settings import get_settings

app = typer.Typer(help="The Kafka -> ClickHouse loader (exactly-once offset-range batches).", no_args_is_help=True)


@app.command()
def run(
    metrics_port: int = typer.Option(None, help="/metrics and /healthz port (default: settings.loader.metrics_port)"),
) -> None:
    """Consume the warehouse topics and load them until SIGTERM/SIGINT, then flush and commit."""
    from pulse.contracts.events import WAREHOUSE_FAMILIES, Family
    from pulse.loader import metrics
    from pulse.loader.sink import WarehouseSink
    from pulse.warehouse.client import connect
    from pulse.worker.health import Health
    from pulse.worker.offset_ranges import OffsetRangeWorker
    from pulse.worker.service import Worker, run_service

    settings = get_settings()
    # the dead-letter topic lands in rejected_events, so rejected input is queryable next to events
    topics = [settings.kafka.topic(family) for family in (*WAREHOUSE_FAMILIES, Family.DEAD_LETTER)]

    def loader(health: Health) -> Worker:
        sink = WarehouseSink(settings, lambda: connect(settings))
        return OffsetRangeWorker(
            sink, settings.kafka, settings.loader, topics, role="loader", health=health, lag=metrics.LAG
        )

    run_service(settings, "loader", metrics_port or settings.loader.metrics_port, loader)
