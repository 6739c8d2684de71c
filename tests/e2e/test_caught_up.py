"""The "caught up" checks the end-to-end tests wait on before they compare rollups and archives.

They read every partition's end offset. When they read none (a consumer that subscribed to nothing
knows no topic's partitions), every wait passed at once and the tests compared rollups whose last
insert was still running: short under load, right when read again.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from pulse.contracts.events import Family
from pulse.settings import Settings
from tests.support.pipeline import loader_caught_up
from tests.support.tiers import end_offsets


def produce_one(settings: Settings, topic: str) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"{}")
        finally:
            await producer.stop()

    asyncio.run(send())


def test_end_offsets_cover_every_partition_of_every_family(kafka_stack: Settings) -> None:
    topic = kafka_stack.kafka.topic(Family.IDENTITIES)
    before = end_offsets(kafka_stack)
    produce_one(kafka_stack, topic)
    after = end_offsets(kafka_stack)

    expected = {(kafka_stack.kafka.topic(f), p) for f in Family for p in range(kafka_stack.kafka.partitions)}
    assert set(after) == expected
    grown = {tp for tp in after if after[tp] > before[tp]}
    assert len(grown) == 1 and next(iter(grown))[0] == topic


def test_a_group_that_committed_nothing_is_not_caught_up(kafka_stack: Settings) -> None:
    produce_one(kafka_stack, kafka_stack.kafka.topic(Family.CONTENT))
    assert not loader_caught_up(kafka_stack, group_id="pulse-test-committed-nothing")
