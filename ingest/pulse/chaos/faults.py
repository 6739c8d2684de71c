"""The faults `pulse chaos` injects under load, each one injected and lifted (the crashed process restarted).

A fault returns once it is over: a killed process has been started again (as a supervisor such as
Kubernetes would), a paused one continued, a full disk emptied, a skewed clock set right, a
burst sent. The run then measures how long health and lag take to come back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import orjson

from pulse.chaos.disk import Disks
from pulse.pipeline.services import start_pipeline, supervisor_for
from pulse.settings import Settings
from pulse.stack import stack

#: aiokafka's default consumer session timeout; a pause longer than it makes the loader a zombie.
SESSION_TIMEOUT_S = 10.0
PAUSE_BEYOND_SESSION_S = 3.0
PAUSE_S = SESSION_TIMEOUT_S + PAUSE_BEYOND_SESSION_S
SKEW_MS = 2 * 3600 * 1000  # clients two hours ahead: far beyond the collector's 5 s tolerance


class SkewingTransport(httpx.AsyncBaseTransport):
    """The load's HTTP transport: shifts clients' clocks when told to, and records acknowledged message ids.

    A skewed client stamps both its events and ``sentAt`` with its own wrong clock, as a device
    would; the collector's correction should put the events back at their true time.
    """

    def __init__(self, limits: httpx.Limits, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport(limits=limits)
        self.skew_ms = 0
        self.acked: set[str] = set()
        #: message id -> the event's true time (ms) and kind, for every message sent while skewed.
        self.skewed: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        data = orjson.loads(body) if body else {}
        messages = data.get("batch", []) if isinstance(data, dict) else []
        if self.skew_ms and messages:
            for message in messages:
                true_ms = _parse_ms(message.get("timestamp"))
                if true_ms is not None:
                    self.skewed[str(message.get("messageId"))] = true_ms
                    message["timestamp"] = _iso(true_ms + self.skew_ms)
            sent = _parse_ms(data.get("sentAt"))
            if sent is not None:
                data["sentAt"] = _iso(sent + self.skew_ms)
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
            request = httpx.Request(request.method, request.url, headers=headers, content=orjson.dumps(data))
        response = await self.inner.handle_async_request(request)
        if 200 <= response.status_code < 300:
            self.acked.update(str(message.get("messageId")) for message in messages)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _parse_ms(value: object) -> int | None:
    from datetime import datetime

    if not isinstance(value, str):
        return None
    try:
        return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _iso(ms: int) -> str:
    from pulse.generator.segment import iso_ms

    return iso_ms(ms)


class Context(Protocol):
    """What a fault may act on: the stack's settings, the load's transport, more load, the disks."""

    settings: Settings
    transport: SkewingTransport
    disks: Disks | None

    async def burst(self, seconds: float, factor: float) -> None: ...


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    inject: Callable[[Context], Awaitable[None]]
    #: Needs the tmpfs volumes of ``pulse.chaos.disk`` (root); skipped with the reason otherwise.
    needs_disks: bool = False


def _kill_stack_service(name: str) -> Callable[[Context], Awaitable[None]]:
    async def inject(ctx: Context) -> None:
        await asyncio.to_thread(stack.supervisor(ctx.settings).kill, name)
        await asyncio.to_thread(stack.up, ctx.settings, stack.select([name]))

    return inject


def _kill_pipeline_service(name: str) -> Callable[[Context], Awaitable[None]]:
    async def inject(ctx: Context) -> None:
        await asyncio.to_thread(supervisor_for(ctx.settings).kill, name)
        await asyncio.to_thread(start_pipeline, ctx.settings)

    return inject


def collector_workers(master: int) -> list[int]:
    """The uvicorn worker processes of a collector (spawned children of its master process)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    pids = []
    for pid in (int(p) for p in out.split()):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            continue
    return pids


async def _kill_collector_worker(ctx: Context) -> None:
    """kill -9 one uvicorn worker (its master starts another); a one-process collector is killed whole."""
    supervisor = supervisor_for(ctx.settings)
    master = supervisor.state("collector").pid
    workers = collector_workers(master) if master else []
    if workers:
        os.kill(workers[0], signal.SIGKILL)
        for _ in range(600):  # the master notices and starts a new worker
            await asyncio.sleep(0.1)
            alive = collector_workers(master) if master else []
            if len(alive) >= len(workers) and workers[0] not in alive:
                return
        return
    await asyncio.to_thread(supervisor.kill, "collector")
    await asyncio.to_thread(start_pipeline, ctx.settings)


async def _pause_loader(ctx: Context) -> None:
    """SIGSTOP the loader for longer than the session timeout (the group drops it), then SIGCONT."""
    pid = supervisor_for(ctx.settings).state("loader").pid
    assert pid is not None, "the loader is not running"
    os.killpg(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(PAUSE_S)
    finally:
        os.killpg(pid, signal.SIGCONT)


def _disk_full(service: str, hold_s: float = 6.0) -> Callable[[Context], Awaitable[None]]:
    async def inject(ctx: Context) -> None:
        assert ctx.disks is not None
        try:
            await asyncio.to_thread(ctx.disks.fill, service)
            await asyncio.sleep(hold_s)
        finally:
            ctx.disks.release(service)

    return inject


async def _clock_skew(ctx: Context, hold_s: float = 6.0) -> None:
    ctx.transport.skew_ms = SKEW_MS
    try:
        await asyncio.sleep(hold_s)
    finally:
        ctx.transport.skew_ms = 0


async def _burst(ctx: Context) -> None:
    await ctx.burst(6.0, 10.0)


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("collector-worker", "kill -9 of a collector worker", _kill_collector_worker),
        Fault("loader", "kill -9 of the loader", _kill_pipeline_service("loader")),
        Fault("hot", "kill -9 of the hot-layer updater", _kill_pipeline_service("hot")),
        Fault("archiver", "kill -9 of the archiver", _kill_pipeline_service("archiver")),
        Fault("warehouse", "kill -9 of the warehouse (chDB bridge)", _kill_stack_service("warehouse")),
        Fault("kafka", "kill -9 of the Kafka broker", _kill_stack_service("kafka")),
        Fault("redis", "kill -9 of Redis", _kill_stack_service("redis")),
        Fault("s3", "kill -9 of the S3 server", _kill_stack_service("s3")),
        Fault("loader-pause", f"SIGSTOP of the loader for {PAUSE_S:.0f} s, then SIGCONT", _pause_loader),
        Fault("s3-disk-full", "the S3 server's disk full for 6 s", _disk_full("s3"), needs_disks=True),
        Fault("warehouse-disk-full", "the warehouse's disk full for 6 s", _disk_full("warehouse"), needs_disks=True),
        Fault("clock-skew", "clients' clocks 2 h ahead for 6 s", _clock_skew),
        Fault("burst", "10x the rate for 6 s", _burst),
    )
}


def parse_faults(spec: str) -> list[Fault]:
    """``all`` or a comma-separated list of fault names, in the order given."""
    if spec.strip() == "all":
        return list(FAULTS.values())
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)} or all")
    return [FAULTS[name] for name in names]
