"""`pulse loader|hot|archive run`: one command shape for running a worker as a long-running service.

Each area only says how to build its worker; this module adds the ``run`` command, logs as the
service, serves ``/metrics`` and ``/healthz`` on its port (the chart probes it, ``pulse up`` waits
for it) and runs the worker until SIGTERM or SIGINT, after which the worker flushes and commits
what it holds. Imports of the worker machinery are deferred so ``pulse --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import typer

from pulse.settings import Settings, get_settings

if TYPE_CHECKING:
    from pulse.worker.health import Health


class Worker(Protocol):
    def stop(self) -> None:
        """Ask ``run`` to finish: flush, commit, return."""

    async def run(self) -> None:
        """Work until ``stop()``; release what the worker holds (consumer, connections) on return."""


#: Builds a service's worker inside the event loop (aiokafka and redis clients bind to it).
WorkerFactory = Callable[[Settings, "Health"], Worker]


def run_service(settings: Settings, service: str, port: int, build: WorkerFactory) -> None:
    """Run ``build``'s worker as ``service`` with ``/metrics`` and ``/healthz`` on ``port``, until signalled."""
    import asyncio

    from pulse.logs import configure_logging
    from pulse.worker.health import Health, serve
    from pulse.worker.resilience import run_until_signalled

    configure_logging(settings.log_level, service=service)
    health = Health(service)
    serve(health, settings.stack.host, port)

    async def main() -> None:
        worker = build(settings, health)
        await run_until_signalled(worker.stop, worker.run)

    asyncio.run(main())


def add_run_command(app: typer.Typer, service: str, area: str, build: WorkerFactory, summary: str) -> None:
    """Add ``run`` to ``app``: ``summary`` is its help, ``settings.<area>.metrics_port`` its default port."""

    @app.command(help=summary)
    def run(
        metrics_port: int = typer.Option(
            None, help=f"/metrics and /healthz port (default: settings.{area}.metrics_port)"
        ),
    ) -> None:
        settings = get_settings()
        default_port: int = getattr(settings, area).metrics_port
        run_service(settings, service, metrics_port or default_port, build)
