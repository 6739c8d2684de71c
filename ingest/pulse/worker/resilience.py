"""What every Kafka consumer of Pulse does the same way when a sink fails or falls behind.

The loader, the hot layer and the archiver never drop data on an outage: they retry until the
sink answers (messages stay uncommitted in Kafka meanwhile), and they report lag from the
brokers' end offsets so it keeps growing, visibly, while they wait.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from pulse.worker.health import Health

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between tries of a failing sink call, the last repeating: quick at first (a blip costs
#: little lag), then capped so a long outage is polled every few seconds, never given up on.
RETRY_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


async def retry_forever(
    call: Callable[[], Awaitable[T]],
    *,
    delays: Sequence[float] = RETRY_DELAYS_S,
    on_error: Callable[[Exception, float], None],
    on_success: Callable[[], None] | None = None,
) -> T:
    """Await ``call()`` until it succeeds, sleeping ``delays[n]`` (the last one repeats) between tries.

    ``on_error(error, delay)`` records each failure (metrics, health, log) before the sleep.
    """
    attempt = 0
    while True:
        try:
            result = await call()
        except Exception as error:
            delay = delays[min(attempt, len(delays) - 1)]
            attempt += 1
            on_error(error, delay)
            await asyncio.sleep(delay)
            continue
        if on_success is not None:
            on_success()
        return result


async def retry_reported(
    call: Callable[[], Awaitable[T]],
    *,
    health: Health,
    dependency: str,
    operation: str,
    count: Callable[[Exception], None],
) -> T:
    """``retry_forever`` for a worker's store: each failure is ``count``ed (the worker's error metric),
    logged, and named on ``/healthz`` until the call succeeds; the loop still beats while it waits."""

    def failed(error: Exception, delay: float) -> None:
        count(error)
        health.failing(dependency, f"{operation}: {error}")
        log.warning(
            f"{dependency} failed, retrying",
            extra={"operation": operation, "error": str(error)[:500], "delay_s": delay},
        )
        health.beat()

    return await retry_forever(call, on_error=failed, on_success=lambda: health.recovered(dependency))


async def report_lag_forever(
    consumer: AIOKafkaConsumer,
    next_offsets: Callable[[], Mapping[TopicPartition, int]],
    gauge: Gauge,
    interval_s: float = 1.0,
) -> None:
    """Set ``gauge{topic, partition}`` to end offset minus the next offset still to be done, every second."""
    while True:
        await asyncio.sleep(interval_s)
        done = next_offsets()
        partitions = [tp for tp in consumer.assignment() if tp in done]
        if not partitions:
            continue
        try:
            ends = await consumer.end_offsets(partitions)
        except KafkaError:
            continue
        done = next_offsets()
        for tp, end in ends.items():
            if tp in done:
                gauge.labels(tp.topic, str(tp.partition)).set(max(0, end - done[tp]))


async def run_until_signalled(stop: Callable[[], None], run: Callable[[], Awaitable[None]]) -> None:
    """Run a worker until SIGTERM or SIGINT asks it to ``stop``, after which it flushes and commits
    what it holds before ``run`` returns (how Kubernetes and ``pulse stack down`` end a worker)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    await run()
