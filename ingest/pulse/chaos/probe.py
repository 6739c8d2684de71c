"""What a chaos run watches: health of every service, loader lag, and each service's memory and open files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import httpx

from pulse.pipeline.monitor import loader_lag
from pulse.pipeline.services import PIPELINE_SERVICES, supervisor_for
from pulse.settings import Settings
from pulse.stack import stack
from pulse.stack.process import group_members

SERVICES = (*stack.NAMES, *PIPELINE_SERVICES)
PAGE = os.sysconf("SC_PAGE_SIZE")


def _health_url(settings: Settings, name: str) -> str:
    host = settings.stack.host
    if name == "collector":
        return f"http://{settings.collector.host}:{settings.collector.port}/readyz"
    port = {"loader": settings.loader.metrics_port, "hot": settings.hot.metrics_port}.get(
        name, settings.archive.metrics_port
    )
    return f"http://{host}:{port}/healthz"


def pipeline_healthy(settings: Settings, name: str) -> bool:
    """200 from the service's probe and, for a consumer, no dependency named as failing."""
    try:
        answer = httpx.get(_health_url(settings, name), timeout=1.0)
    except httpx.HTTPError:
        return False
    if answer.status_code != 200:
        return False
    if name == "collector":
        return True
    with contextlib.suppress(ValueError):
        return not answer.json().get("failing")
    return True


def unhealthy(settings: Settings) -> list[str]:
    """Names of the services (stack and pipeline) that are down or not answering real requests."""
    down = [row.name for row in stack.status(settings, stack.select()) if not row.healthy]
    return down + [name for name in PIPELINE_SERVICES if not pipeline_healthy(settings, name)]


def lag(settings: Settings) -> int | None:
    return loader_lag(settings)


def _group(settings: Settings, name: str) -> list[int]:
    state = supervisor_for(settings).state(name)
    if not state.running or state.pid is None:
        return []
    return group_members(state.pid) or [state.pid]


def _rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return 0


def _fds(pid: int) -> int:
    with contextlib.suppress(OSError):
        return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    return 0


def leader_pids(settings: Settings) -> dict[str, int]:
    """Service name -> the process id the supervisor started it as (changes when it is restarted)."""
    supervisor = supervisor_for(settings)
    states = {name: supervisor.state(name) for name in SERVICES}
    return {name: state.pid for name, state in states.items() if state.running and state.pid is not None}


def resources(settings: Settings) -> dict[str, tuple[int, int]]:
    """Service name -> (resident bytes, open file descriptors), summed over its process group."""
    out = {}
    for name in SERVICES:
        pids = _group(settings, name)
        if pids:
            out[name] = (sum(_rss_bytes(pid) for pid in pids), sum(_fds(pid) for pid in pids))
    return out
