"""Produces enriched events to their family topics and reports only what Kafka acknowledged.

acks=all with the idempotent producer: a 2xx to the client means every event of the request is
on the in-sync replicas, and producer retries never write a message twice.

Buffering is bounded: at most ``max_buffered_events`` unacknowledged events per worker. Beyond
that, or while Kafka is known to be down (a delivery failed and no probe succeeded since), a
request is refused at once with 503 instead of waiting out the delivery timeout; a background
probe notices the broker's return, and ingestion resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from pulse.collector import metrics
from pulse.settings import Settings
from pulse.tls import kafka_options

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    #: The event name for metrics; empty for dead letters.
    event: str = ""


class ProduceError(Exception):
    """Kafka did not (or cannot now) acknowledge every record of a request."""


class EventProducer:
    def __init__(self, settings: Settings, *, delivery_timeout_s: float | None = None) -> None:
        collector = settings.collector
        self.delivery_timeout_s = delivery_timeout_s or collector.delivery_timeout_s
        self.max_buffered = collector.max_buffered_events
        self.buffered = 0
        self.available = True
        self._probe: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()
        self._settings = settings
        self._producer = self._new_producer()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **kafka_options(self._settings.kafka),
            client_id=f"{self._settings.kafka.client_id}-collector",
            acks="all",
            enable_idempotence=True,
            compression_type="lz4",
            linger_ms=2,
            max_batch_size=512 * 1024,
            request_timeout_ms=int(self.delivery_timeout_s * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._producer.stop()

    def admit(self, count: int) -> None:
        """Refuse at once (ProduceError) when Kafka is down or the buffer bound would be passed."""
        if not self.available:
            raise ProduceError("Kafka is unreachable")
        if self.buffered + count > self.max_buffered:
            raise ProduceError(f"{self.buffered} events await Kafka's acknowledgement (bound {self.max_buffered})")

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record and wait for all acknowledgements; raise ProduceError if any failed."""
        self.admit(len(records))
        self.buffered += len(records)
        metrics.BUFFERED.set(self.buffered)
        try:
            # One deadline for the whole request: send() itself may wait for metadata or buffer space.
            async with asyncio.timeout(self.delivery_timeout_s):
                futures = [await self._producer.send(r.topic, r.value, key=r.key) for r in records]
                results = await asyncio.gather(*futures, return_exceptions=True)
        except (KafkaError, TimeoutError) as error:
            self._unavailable(error)
            raise ProduceError(str(error) or type(error).__name__) from error
        finally:
            self.buffered -= len(records)
            metrics.BUFFERED.set(self.buffered)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            self._unavailable(failures[0])
            raise ProduceError(f"{len(failures)} of {len(records)} records not acknowledged: {failures[0]!r}")

    def _unavailable(self, error: BaseException) -> None:
        if self.available:
            log.warning("kafka unavailable: refusing requests until it answers", extra={"error": repr(error)})
        self.available = False
        metrics.KAFKA_AVAILABLE.set(0)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._wait_for_kafka())

    async def _wait_for_kafka(self) -> None:
        while True:
            while not await self.ready():  # noqa: ASYNC110 - polling a remote broker, no local event to wait on
                await asyncio.sleep(0.5)
            # A producer that lived through the outage may hold expired batches and stale idempotence
            # state that fail every later send: resume on a fresh one.
            fresh = self._new_producer()
            try:
                await asyncio.wait_for(fresh.start(), timeout=self.delivery_timeout_s)
            except (KafkaError, TimeoutError):
                with contextlib.suppress(Exception):
                    await fresh.stop()
                await asyncio.sleep(0.5)
                continue
            retired, self._producer = self._producer, fresh
            task = asyncio.create_task(self._retire(retired))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
            break
        self.available = True
        metrics.KAFKA_AVAILABLE.set(1)
        log.info("kafka reachable again: accepting requests")

    async def _retire(self, producer: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout=self.delivery_timeout_s)

    async def ready(self) -> bool:
        """Kafka is reachable when the cluster metadata can be refreshed."""
        try:
            updated = await asyncio.wait_for(self._producer.client.force_metadata_update(), timeout=2.0)
        except (KafkaError, TimeoutError):
            return False
        return bool(updated) and bool(self._producer.client.cluster.brokers())
