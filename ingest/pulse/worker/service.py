"""`pulse loader|hot|archive run`: one way to run a worker as a long-running service.

Each command only says how to build its worker; this module logs as the service, serves
``/metrics`` and ``/healthz`` on its port (the chart probes it, ``pulse up`` waits for it) and runs
the worker until SIGTERM or SIGINT, after which the worker flushes and commits what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from pulse.logs import configure_logging
from pulse.settings import Settings
from pulse.worker.health import Health, serve
from pulse.worker.resilience import run_until_signalled


class Worker(Protocol):
    def stop(self) -> None:
        """Ask ``run`` to finish: flush, commit, return."""

    async def run(self) -> None:
        """Work until ``stop()``; release what the worker holds (consumer, connections) on return."""


def run_service(settings: Settings, service: str, port: int, build: Callable[[Health], Worker]) -> None:
    """Run ``build``'s worker as ``service`` with ``/metrics`` and ``/healthz`` on ``port``, until signalled."""
    configure_logging(settings.log_level, service=service)
    health = Health(service)
    serve(health, settings.stack.host, port)

    async def main() -> None:
        worker = build(health)  # inside the loop: aiokafka and redis clients bind to it
        await run_until_signalled(worker.stop, worker.run)

    asyncio.run(main())
