"""`pulse collector serve`: the Segment-compatible collector as a service."""

from __future__ import annotations

import typer
import uvicorn

from pulse.logs import configure_logging
from pulse.settings import get_settings

app = typer.Typer(help="The Segment-compatible event collector.", no_args_is_help=True)


def build_app() -> object:
    """Factory used by uvicorn in every worker process."""
    from pulse.collector.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level, service="collector")
    return create_app(settings)


@app.command()
def serve(
    port: int = typer.Option(None, help="listen port (default: settings.collector.port)"),
    workers: int = typer.Option(None, help="worker processes (default: settings.collector.workers)"),
) -> None:
    """Serve /v1/* until SIGTERM; in-flight requests are drained before exit."""
    settings = get_settings()
    configure_logging(settings.log_level, service="collector")
    uvicorn.run(
        "pulse.collector.cli:build_app",
        factory=True,
        host=settings.collector.host,
        port=port or settings.collector.port,
        workers=workers or settings.collector.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
