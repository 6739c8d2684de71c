"""`pulse hot run`: the Kafka -> Redis hot-layer updater as a long-running service."""

from __future__ import annotations

import typer

from pulse.settings import get_settings

app = typer.Typer(help="The hot tier: the last 15 minutes of the event stream in Redis.", no_args_is_help=True)


@app.command()
def run(
    metrics_port: int = typer.Option(None, help="/metrics and /healthz port (default: settings.hot.metrics_port)"),
) -> None:
    """Count the enriched topics into Redis until SIGTERM/SIGINT, then apply what is pending."""
    from pulse.contracts.events import WAREHOUSE_FAMILIES
    from pulse.hot.consumer import HotUpdater
    from pulse.tls import async_redis
    from pulse.worker.health import Health
    from pulse.worker.service import Worker, run_service

    settings = get_settings()
    topics = [settings.kafka.topic(family) for family in WAREHOUSE_FAMILIES]

    def updater(health: Health) -> Worker:
        return HotUpdater(settings, async_redis(settings.redis), topics, health)

    run_service(settings, "hot", metrics_port or settings.hot.metrics_port, updater)
