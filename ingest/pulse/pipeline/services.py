"""The pipeline's own services (collector, loader) as supervised background processes.

`pulse up`, `pulse bench e2e` and the end-to-end tests start them the same way, on top of a
running stack, with the caller's settings handed down as ``PULSE_*`` variables.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from pulse.settings import Settings
from pulse.stack import stack
from pulse.stack.env import settings_env
from pulse.stack.process import ServiceSpec, ServiceState, Supervisor
from pulse.worker.health import answers_ok

#: Start order: consumers before the collector, so nothing is produced that no one reads.
PIPELINE_SERVICES = ("loader", "hot", "archiver", "collector")


def supervisor_for(settings: Settings) -> Supervisor:
    return Supervisor(settings.stack.run_dir, settings.stack.logs_dir)


def pipeline_specs(settings: Settings) -> dict[str, ServiceSpec]:
    env = settings_env(settings)
    host = settings.stack.host
    collector_url = f"http://{settings.collector.host}:{settings.collector.port}"

    def consumer(name: str, command: str, metrics_port: int) -> ServiceSpec:
        """``pulse <command> run``, ready once its /healthz answers (every worker serves one beside /metrics)."""
        return ServiceSpec(
            name=name,
            argv=[sys.executable, "-m", "pulse", command, "run"],
            port=metrics_port,
            host=host,
            env=env,
            ready=lambda: answers_ok(f"http://{host}:{metrics_port}/healthz"),
        )

    return {
        "loader": consumer("loader", "loader", settings.loader.metrics_port),
        "hot": consumer("hot", "hot", settings.hot.metrics_port),
        "archiver": consumer("archiver", "archive", settings.archive.metrics_port),
        "collector": ServiceSpec(
            name="collector",
            argv=[sys.executable, "-m", "pulse", "collector", "serve"],
            port=settings.collector.port,
            host=settings.collector.host,
            # The local demo accepts any write key unless PULSE_COLLECTOR__AUTH is set (docs/ingestion.md).
            env={**env, "PULSE_COLLECTOR__AUTH": settings.collector.auth}
            if "auth" in settings.collector.model_fields_set
            else {**env, "PULSE_COLLECTOR__AUTH": "open"},
            ready=lambda: answers_ok(f"{collector_url}/readyz"),
        ),
    }


def start_pipeline(settings: Settings) -> list[ServiceState]:
    """Start the consumers (loader, hot layer, archiver), then the collector (nothing produced unread)."""
    supervisor = supervisor_for(settings)
    specs = pipeline_specs(settings)
    return [supervisor.start(specs[name], settings.stack.start_timeout_s) for name in PIPELINE_SERVICES]


def stop_pipeline(settings: Settings) -> None:
    """Stop the collector first (it drains requests), then the loader (it flushes and commits)."""
    supervisor = supervisor_for(settings)
    for name in reversed(PIPELINE_SERVICES):
        supervisor.stop(name)


def ensure_running(settings: Settings, progress: Callable[[str], None] | None = None) -> list[str]:
    """Everything the main job needs, started if it is not yet: the stack, the schema, the pipeline.

    Returns the names of the services this call started (so a caller can stop just those).
    """
    from pulse.errors import PulseError
    from pulse.warehouse.client import connect
    from pulse.warehouse.migrations import discover, migrate

    if settings.clickhouse.ingestion != "loader":
        raise PulseError(
            "PULSE_CLICKHOUSE__INGESTION=kafka-engine is for a ClickHouse server (`pulse migrate --ingestion "
            "kafka-engine`); the local stack's embedded warehouse is fed by the loader, and a chDB path holding "
            "a Kafka table cannot be reopened: unset it for `pulse up`"
        )
    supervisor = supervisor_for(settings)
    before = {name for name in (*stack.NAMES, *PIPELINE_SERVICES) if supervisor.state(name).running}
    stack.up(settings, stack.select(), progress=progress)
    applied = migrate(connect(settings, use_database=False), settings.clickhouse.database, discover())
    if progress is not None and applied:
        progress(f"applied {len(applied)} migration(s)")
    if progress is not None:
        progress("starting loader and collector")
    start_pipeline(settings)
    return [name for name in (*stack.NAMES, *PIPELINE_SERVICES) if name not in before]


def stop_services(settings: Settings, names: list[str]) -> None:
    """Stop the given services, pipeline first, then the stack in reverse start order."""
    supervisor = supervisor_for(settings)
    order = [*reversed(PIPELINE_SERVICES), *reversed(stack.NAMES)]
    for name in order:
        if name in names:
            supervisor.stop(name)
