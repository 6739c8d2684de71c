"""`pulse collector serve`: the Segment-compatible collector as a service."""

from __future__ import annotations

import typer

from pulse.errors import PulseError
from pulse.logs import configure_logging
from pulse.settings import get_settings
from pulse.tls import uvicorn_ssl_options
from pulse.web import serve as serve_app

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
    workers: int = typer.Option(None, help="worker processes (default: settings.collector.workers; 0 = one per core)"),
) -> None:
    """Serve /v1/* until SIGTERM; in-flight requests are drained before exit."""
    settings = get_settings()
    configure_logging(settings.log_level, service="collector")
    https = uvicorn_ssl_options(settings.collector)  # checked before forking workers: a bad path fails once, clearly
    from pulse.contracts.tracking import PlanError, TrackingPlans

    try:  # the same for tracking plans: each worker reads them again, this names the bad field once
        TrackingPlans.load(settings.collector.tracking_plans)
    except PlanError as error:
        raise PulseError(str(error)) from error
    workers = settings.collector.workers if workers is None else workers
    host, port = settings.collector.host, port or settings.collector.port
    # Headers bounded by collector.max_header_bytes; the client address comes from the socket, and
    # X-Forwarded-For only from collector.trusted_proxies (pulse.collector.clients), never uvicorn's guess.
    options = {"http": "pulse.collector.http:BoundedHttpToolsProtocol", "proxy_headers": False}
    serve_app(
        "pulse.collector.cli:build_app",
        host=host,
        port=port,
        workers=workers,
        https=https,
        service="collector",
        options=options,
    )
