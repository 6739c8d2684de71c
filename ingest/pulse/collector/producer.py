"""Produces enriched events to their family topics and reports only what Kafka acknowledged.

acks=all with the idempotent producer: a 2xx to the client means every event of the request is
on the in-sync replicas, and producer retries never write a message twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from pulse.settings import Settings


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    #: The event name for metrics; empty for dead letters.
    event: str = ""


class ProduceError(Exception):
    """Kafka did not acknowledge every record of a request within the delivery timeout."""


class EventProducer:
    def __init__(self, settings: Settings, *, delivery_timeout_s: float = 10.0) -> None:
        self.delivery_timeout_s = delivery_timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id=f"{settings.kafka.client_id}-collector",
            acks="all",
            enable_idempotence=True,
            compression_type="lz4",
            linger_ms=2,
            max_batch_size=512 * 1024,
            request_timeout_ms=int(delivery_timeout_s * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record and wait for all acknowledgements; raise ProduceError if any failed."""
        try:
            futures = [await self._producer.send(r.topic, r.value, key=r.key) for r in records]
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), timeout=self.delivery_timeout_s
            )
        except (KafkaError, TimeoutError) as error:
            raise ProduceError(str(error) or type(error).__name__) from error
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise ProduceError(f"{len(failures)} of {len(records)} records not acknowledged: {failures[0]!r}")

    async def ready(self) -> bool:
        """Kafka is reachable when the cluster metadata can be refreshed."""
        try:
            await asyncio.wait_for(self._producer.client.force_metadata_update(), timeout=2.0)
        except (KafkaError, TimeoutError):
            return False
        return bool(self._producer.client.cluster.brokers())
