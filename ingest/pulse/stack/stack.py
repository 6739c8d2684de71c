"""The local stack as a whole: which services, in which order, and up / down / status over them.

Order matters: Kafka first (collectors and the warehouse's consumers need it), the warehouse last;
`down` goes in reverse. Everything is keyed by the ``Settings`` passed in, so the test session can
run its own isolated stack next to a developer's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.stack import kafka, redis, s3, warehouse
from pulse.stack.env import settings_env
from pulse.stack.process import Supervisor
from pulse.stack.service import Service

SERVICES: tuple[Service, ...] = (kafka.SERVICE, redis.SERVICE, s3.SERVICE, warehouse.SERVICE)
NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    port: int
    healthy: bool
    log: Path


def select(only: Iterable[str] | None = None) -> list[Service]:
    """The named services in stack order (all of them when ``only`` is empty or None)."""
    wanted = {name.strip() for name in only or () if name.strip()}
    unknown = wanted - set(NAMES)
    if unknown:
        raise PulseError(f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    return [service for service in SERVICES if not wanted or service.name in wanted]


def supervisor(settings: Settings) -> Supervisor:
    return Supervisor(run_dir=settings.stack.run_dir, logs_dir=settings.stack.logs_dir)


def install(settings: Settings, services: Iterable[Service]) -> dict[str, bool]:
    """Fetch what each service needs; name -> whether anything was downloaded."""
    return {service.name: service.install(settings) for service in services}


def up(
    settings: Settings, services: Iterable[Service], progress: Callable[[str], None] | None = None
) -> list[ServiceStatus]:
    """Install (lazily), start and health-check each service in order; running ones are left alone."""
    chosen = list(services)
    sup = supervisor(settings)
    env = settings_env(settings)
    for service in chosen:
        if not sup.state(service.name).running:
            if progress:
                progress(f"starting {service.name} on port {service.port(settings)}")
            service.install(settings)
            spec = service.spec(settings)
            sup.start(dataclasses.replace(spec, env={**env, **spec.env}), timeout_s=settings.stack.start_timeout_s)
        service.after_start(settings)
    return status(settings, chosen)


def down(settings: Settings, services: Iterable[Service]) -> list[str]:
    """Stop services in reverse order, each with its whole process group; names that were running.

    Whatever else runs on top of the stack under the same supervisor (collector, loader, ...) is
    stopped first when the whole stack goes down, so that a `down` never leaves an orphan.
    """
    sup = supervisor(settings)
    selected = list(services)
    stopped: list[str] = []
    if {service.name for service in selected} >= set(NAMES):
        stopped += [name for name in sup.supervised() if name not in NAMES and sup.stop(name)]
    return stopped + [service.name for service in reversed(selected) if sup.stop(service.name)]


def status(settings: Settings, services: Iterable[Service]) -> list[ServiceStatus]:
    sup = supervisor(settings)
    rows = []
    for service in services:
        state = sup.state(service.name)
        rows.append(
            ServiceStatus(
                name=service.name,
                running=state.running,
                pid=state.pid if state.running else None,
                port=service.port(settings),
                healthy=state.running and service.healthy(settings),
                log=state.log,
            )
        )
    return rows
