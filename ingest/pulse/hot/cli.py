"""`pulse hot run`: the Kafka -> Redis hot-layer updater as a long-running service."""

from __future__ import annotations

import asyncio

import typer

from pulse.contracts.events import WAREHOUSE_FAMILIES
from pulse.logs import configure_logging
from pulse.settings import get_settings
from pulse.worker.resilience import run_until_signalled

app = typer.Typer(help="The hot tier: the last 15 minutes of the event stream in Redis.", no_args_is_help=True)


@app.command()
def run(
    metrics_port: int = typer.Option(None, help="/metrics and /healthz port (default: settings.hot.metrics_port)"),
) -> None:
    """Count the enriched topics into Redis until SIGTERM/SIGINT, then apply what is pending."""
    from pulse.hot.consumer import HotUpdater
    from pulse.tls import async_redis
    from pulse.worker.health import Health, serve

    settings = get_settings()
    configure_logging(settings.log_level, service="hot")
    health = Health("hot")
    serve(health, settings.stack.host, metrics_port or settings.hot.metrics_port)
    topics = [settings.kafka.topic(family) for family in WAREHOUSE_FAMILIES]

    async def main() -> None:
        redis = async_redis(settings.redis)
        updater = HotUpdater(settings, redis, topics, health)
        try:
            await run_until_signalled(updater.stop, updater.run)
        finally:
            await redis.aclose()

    asyncio.run(main())
