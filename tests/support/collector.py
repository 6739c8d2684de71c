"""Helpers for collector tests: the app in-process, a real collector server, and reading topics back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from pulse.collector.app import create_app
from pulse.collector.keys import KeyStore
from pulse.contracts.events import Family
from pulse.settings import Settings
from pulse.web import free_port

ALL_FAMILIES = tuple(Family)


async def new_key(settings: Settings, source: str, rate: int = 0) -> str:
    redis = Redis.from_url(settings.redis.url)
    try:
        key, _ = await KeyStore(redis).create(source, rate_limit_events_per_s=rate)
        return key
    finally:
        await redis.aclose()


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app with its lifespan (producer started), behind an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            yield client


async def read_topics(
    settings: Settings, families: tuple[Family, ...] = ALL_FAMILIES, *, source: str | None = None
) -> dict[Family, list[dict[str, Any]]]:
    """Every message now in the families' topics (from the start), optionally only one source's."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(settings.kafka.topic(f), p) for f in families for p in range(settings.kafka.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: dict[Family, list[dict[str, Any]]] = {f: [] for f in families}
        family_of = {settings.kafka.topic(f): f for f in families}
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batches.items():
                for message in messages:
                    value = orjson.loads(message.value or b"{}")
                    if source is None or value.get("source") == source:
                        out[family_of[tp.topic]].append(value)
                if (await consumer.position(tp)) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


@contextmanager
def collector_server(
    env: Mapping[str, str], *, workers: int = 1, extra: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`pulse collector serve` as a real process on a free port; SIGTERM (drain) at the end."""
    port = free_port()
    # A file, not a pipe: a full pipe nobody reads would block the server on its next log line.
    log = tempfile.NamedTemporaryFile(prefix="pulse-collector-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "pulse", "collector", "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **env, **(extra or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"collector did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def worker_pids(master: int) -> list[int]:
    """The uvicorn worker processes of a collector (spawned children of its master process)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    pids = [int(pid) for pid in out.split()]
    return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def track(message_id: str, user: str = "u-1", **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "messageId": message_id,
        "event": "like",
        "userId": user,
        "timestamp": "2026-11-22T11:59:59.500Z",
        "properties": {"post_id": "p-1", "author_id": "a-1", "category": "sports", "hashtags": ["goal"]},
    }
    message.update(overrides)
    return message


async def wait_for(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.2)
