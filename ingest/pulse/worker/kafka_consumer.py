"""The Kafka consumer of the exactly-once workers: the loader, the hot-layer updater and the archiver."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from pulse.errors import PulseError
from pulse.settings import KafkaSettings
from pulse.tls import kafka_options


def partition_consumer(kafka: KafkaSettings, *, group_id: str, role: str, **overrides: Any) -> AIOKafkaConsumer:
    """Manual commits from the earliest offset, with large fetches: each worker commits an offset only
    after what it read up to there is durable in its own store (warehouse, Redis markers, S3)."""
    return AIOKafkaConsumer(
        **kafka_options(kafka),
        group_id=group_id,
        client_id=f"{kafka.client_id}-{role}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **overrides,
    )


async def start_consumer(consumer: AIOKafkaConsumer, kafka: KafkaSettings, role: str) -> None:
    """Join the group, or fail with what to do about an unreachable Kafka (not a stack trace)."""
    try:
        await consumer.start()
    except KafkaError as error:
        await consumer.stop()
        raise PulseError(
            f"{role}: cannot reach Kafka at {kafka.bootstrap_servers} ({error}); "
            "start it with `pulse stack up` or set PULSE_KAFKA__BOOTSTRAP_SERVERS"
        ) from error
