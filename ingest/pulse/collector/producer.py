"""Produces enriched events to their family topics and reports only what Kafka acknowledged.

acks=all with the idempotent producer: a 2xx to the client means every event of the request is
on the in-sync replicas, and producer retries never write a message twice.

The client is librdkafka (confluent-kafka): it costs a third of aiokafka's CPU per message, which
was the largest share of the collector's work (docs/benchmarks.md, issue 15). Its delivery reports
arrive on one polling thread per producer; a request waits on one future that the report of its
last record resolves, so the event loop is woken once per request, not once per event.

Buffering is bounded: at most ``max_buffered_events`` unacknowledged events per worker. Beyond
that, or while Kafka is known to be down (a delivery failed and no probe succeeded since), a
request is refused at once with 503 instead of waiting out the delivery timeout; a background
probe notices the broker's return, and ingestion resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pulse.collector import metrics
from pulse.settings import Settings
from pulse.tls import rdkafka_options

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


class _Acknowledgements:
    """Counts one request's delivery reports (on the polling thread) and resolves its future on the last."""

    __slots__ = ("error", "future", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = count
        self.error: KafkaError | None = None

    def report(self, error: KafkaError | None, _: Message) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.remaining -= 1
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class _PolledProducer:
    """A librdkafka producer and the thread that serves its delivery reports until it is closed."""

    def __init__(self, settings: Settings, delivery_timeout_s: float) -> None:
        collector, kafka = settings.collector, settings.kafka
        config = {
            "client.id": f"{kafka.client_id}-collector",
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 5,
            "batch.size": 512 * 1024,
            # A record not acknowledged in time fails (503 to its request) instead of waiting forever.
            "message.timeout.ms": int(delivery_timeout_s * 1000),
            # Java's partitioner (the one aiokafka used): a user's events stay on the same partition.
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": max(100_000, 2 * collector.max_buffered_events),
        }
        self.client = Producer(config, **rdkafka_options(kafka), logger=log)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-delivery-reports", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self.client.poll(0.05)

    def close(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for outstanding deliveries; returns how many are still unacknowledged."""
        left = int(self.client.flush(timeout_s))
        self._closed.set()
        self._thread.join(1.0)
        return left

    def reachable(self, timeout_s: float) -> bool:
        """Blocking: the cluster's metadata could be fetched from a broker within ``timeout_s``."""
        try:
            return bool(self.client.list_topics(timeout=timeout_s).brokers)
        except KafkaException:
            return False


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
        self._producer: _PolledProducer | None = None

    def _new_producer(self) -> _PolledProducer:
        return _PolledProducer(self._settings, self.delivery_timeout_s)

    @property
    def _current(self) -> _PolledProducer:
        if self._producer is None:
            raise ProduceError("the producer is not started")
        return self._producer

    async def start(self) -> None:
        """Create the producer and wait until a broker answers (a collector must not start blind)."""
        self._producer = self._new_producer()
        if not await self.ready(timeout_s=self.delivery_timeout_s):
            await self._retire(self._producer)
            self._producer = None
            raise ProduceError(f"no Kafka broker answered at {self._settings.kafka.bootstrap_servers}")

    async def stop(self) -> None:
        """Stop probing, then wait (bounded) for every record already handed over: SIGTERM drains."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self._retired:
            await asyncio.gather(*self._retired, return_exceptions=True)
        if self._producer is not None:
            left = await asyncio.to_thread(self._producer.close, self.delivery_timeout_s)
            if left:
                log.warning("records not acknowledged at shutdown", extra={"records": left})
            self._producer = None

    def admit(self, count: int) -> None:
        """Refuse at once (ProduceError) when Kafka is down or the buffer bound would be passed."""
        if not self.available:
            raise ProduceError("Kafka is unreachable")
        if self.buffered + count > self.max_buffered:
            raise ProduceError(f"{self.buffered} events await Kafka's acknowledgement (bound {self.max_buffered})")

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record and wait for all acknowledgements; raise ProduceError if any failed."""
        if not records:
            return
        self.admit(len(records))
        acks = _Acknowledgements(asyncio.get_running_loop(), len(records))
        produce = self._current.client.produce
        report = acks.report
        self.buffered += len(records)
        metrics.BUFFERED.set(self.buffered)
        try:
            for record in records:
                produce(record.topic, record.value, record.key, on_delivery=report)
            # One deadline for the whole request, as librdkafka's message.timeout.ms per record.
            async with asyncio.timeout(self.delivery_timeout_s):
                await acks.future
        except (KafkaException, BufferError, TimeoutError) as error:
            self._unavailable(error)
            raise ProduceError(str(error) or type(error).__name__) from error
        finally:
            self.buffered -= len(records)
            metrics.BUFFERED.set(self.buffered)
        if acks.error is not None:
            self._unavailable(KafkaException(acks.error))
            raise ProduceError(f"records of {len(records)} not acknowledged: {acks.error}")

    def _unavailable(self, error: BaseException) -> None:
        if self.available:
            log.warning("kafka unavailable: refusing requests until it answers", extra={"error": repr(error)})
        self.available = False
        metrics.KAFKA_AVAILABLE.set(0)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._wait_for_kafka())

    async def _wait_for_kafka(self) -> None:
        while not await self.ready():  # noqa: ASYNC110 - polling a remote broker, no local event to wait on
            await asyncio.sleep(0.5)
        # A producer that lived through the outage may hold timed-out records and idempotence state
        # that librdkafka may deem fatal: resume on a fresh one, and let the old one drain aside.
        retired, self._producer = self._producer, self._new_producer()
        if retired is not None:
            task = asyncio.create_task(self._retire(retired))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
        self.available = True
        metrics.KAFKA_AVAILABLE.set(1)
        log.info("kafka reachable again: accepting requests")

    async def _retire(self, producer: _PolledProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(producer.close, self.delivery_timeout_s)

    async def ready(self, timeout_s: float = 2.0) -> bool:
        """Kafka is reachable when the cluster metadata can be refreshed from a broker."""
        if self._producer is None:
            return False
        return await asyncio.to_thread(self._producer.reachable, timeout_s)
