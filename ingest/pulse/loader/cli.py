"""`pulse loader run`: the Kafka -> warehouse loader as a long-running service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pulse.settings import Settings
from pulse.worker.service import Worker, add_run_command

if TYPE_CHECKING:
    from pulse.worker.health import Health

app = typer.Typer(help="The Kafka -> ClickHouse loader (exactly-once offset-range batches).", no_args_is_help=True)


def loader(settings: Settings, health: Health) -> Worker:
    """The warehouse topics, and the dead-letter topic (into ``rejected_events``, so rejected input is
    queryable next to events), through the offset-range worker into the warehouse."""
    from pulse.contracts.events import LOADER_FAMILIES
    from pulse.loader import metrics
    from pulse.loader.sink import WarehouseSink
    from pulse.warehouse.client import connect
    from pulse.warehouse.ingestion import refuse_loader
    from pulse.worker.offset_ranges import OffsetRangeWorker

    refuse_loader(settings)  # a warehouse its own Kafka tables feed would store every event twice
    topics = [settings.kafka.topic(family) for family in LOADER_FAMILIES]
    sink = WarehouseSink(settings, lambda: connect(settings))
    return OffsetRangeWorker(
        sink, settings.kafka, settings.loader, topics, role="loader", health=health, lag=metrics.LAG
    )


add_run_command(
    app,
    "loader",
    "loader",
    loader,
    "Consume the warehouse topics and load them until SIGTERM/SIGINT, then flush and commit.",
)
