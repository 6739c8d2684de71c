"""`pulse hot run`: the Kafka -> Redis hot-layer updater as a long-running service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pulse.settings import Settings
from pulse.worker.service import Worker, add_run_command

if TYPE_CHECKING:
    from pulse.worker.health import Health

app = typer.Typer(help="The hot tier: the last 15 minutes of the event stream in Redis.", no_args_is_help=True)


def updater(settings: Settings, health: Health) -> Worker:
    """The enriched topics counted into Redis (the updater closes its client when it returns)."""
    from pulse.contracts.events import HOT_FAMILIES
    from pulse.hot.consumer import HotUpdater
    from pulse.tls import async_redis

    topics = [settings.kafka.topic(family) for family in HOT_FAMILIES]
    return HotUpdater(settings, async_redis(settings.redis), topics, health)


add_run_command(
    app,
    "hot",
    "hot",
    updater,
    "Count the enriched topics into Redis until SIGTERM/SIGINT, then apply what is pending.",
)
