"""`pulse collector serve`: the Segment-compatible collector as a service."""

from __future__ import annotations

import os
import shutil
import tempfile

import typer
import uvicorn

from pulse.logs import configure_logging
from pulse.settings import get_settings
from pulse.tls import uvicorn_ssl_options

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
    count = settings.collector.workers if workers is None else workers
    count = count or os.cpu_count() or 1
    metrics_dir = None
    if count > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics to files here; /metrics in any worker sums them all.
        metrics_dir = tempfile.mkdtemp(prefix="pulse-collector-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "pulse.collector.cli:build_app",
            factory=True,
            host=settings.collector.host,
            port=port or settings.collector.port,
            workers=count,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=30,
            **https,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
