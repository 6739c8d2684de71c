"""The running pipeline from a test's side: where traffic goes, traffic through crashes, figures as truth.

The end-to-end tests drive the collector, kill services under load, and compare query rows with the
generator's ground truth; these are the pieces more than one test module needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pulse.contracts.events import Family
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficGenerator
from pulse.generator.truth import AdTotals, TruthReport
from pulse.pipeline.services import pipeline_specs, start_pipeline, supervisor_for
from pulse.settings import Settings
from pulse.tls import kafka_options


def collector_url(settings: Settings) -> str:
    return f"http://{settings.collector.host}:{settings.collector.port}"


def send_through_crashes(
    settings: Settings,
    generator: TrafficGenerator,
    key: str,
    *,
    events: int,
    service: str,
    pauses: tuple[float, ...] = (2.0, 2.5),
) -> TruthReport:
    """Paced traffic while ``service`` is killed (-9) after each pause and started again with the pipeline.

    Paced, so the traffic is still flowing at every kill: the crash lands mid-stream, not after it.
    """
    supervisor = supervisor_for(settings)

    async def scenario() -> TruthReport:
        sending = asyncio.create_task(send(generator, collector_url(settings), key, events=events, paced=True))
        for pause in pauses:
            await asyncio.sleep(pause)
            assert supervisor.kill(service)
            await asyncio.to_thread(start_pipeline, settings)
        return await sending

    return asyncio.run(scenario())


@contextlib.contextmanager
def replaying_loader(settings: Settings, group_id: str) -> Iterator[Settings]:
    """Inside the block the loader runs in a new consumer group, so it reads every offset again (a full
    Kafka redelivery); yields its settings. After the block, the usual loader runs again."""
    supervisor = supervisor_for(settings)
    supervisor.stop("loader")
    replaying = settings.model_copy(update={"loader": settings.loader.model_copy(update={"group_id": group_id})})
    replayer = supervisor.start(pipeline_specs(replaying)["loader"], settings.stack.start_timeout_s)
    try:
        yield replaying
    finally:
        supervisor.stop(replayer.name)
        start_pipeline(settings)


def ad_totals(row: Mapping[str, Any]) -> AdTotals:
    """A query row's ad figures as the truth's ``AdTotals``, to compare whole with the truth's.

    The values are taken as the row holds them (no conversion), so the comparison is as strict as
    comparing each column.
    """
    return AdTotals(**{name: row[name] for name in AdTotals.__struct_fields__})


async def topic_end_offsets(consumer: AIOKafkaConsumer, settings: Settings) -> dict[TopicPartition, int]:
    """The end offset of every partition of every event topic (the loader's and the archiver's input).

    The partitions come from the broker (``describe_topics``), not from the consumer: one that
    subscribed to nothing has no topic's metadata (``consumer.topics()`` fetches it into a copy it
    does not keep), and no partitions would let every "caught up" check built on this pass at once.
    """
    names = [settings.kafka.topic(f) for f in Family]
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = [TopicPartition(topic["topic"], p["partition"]) for topic in described for p in topic["partitions"]]
    if {tp.topic for tp in partitions} != set(names):
        raise AssertionError(f"the broker describes no partitions for some of {names}: {described}")
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


def loader_caught_up(settings: Settings, group_id: str | None = None) -> bool:
    """Whether the loader group has committed every partition's end offset.

    Rows in ``events`` are no proof that an insert is done: the table's part is visible before the
    materialized views below it have written theirs. The loader commits only after its insert
    returned, so a committed end offset means every rollup of that range is written too.
    """

    async def read() -> bool:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id=group_id or settings.loader.group_id,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            ends = await topic_end_offsets(consumer, settings)
            for tp, end in ends.items():
                if end and (await consumer.committed(tp) or 0) < end:
                    return False
            return True
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    return asyncio.run(read())


def wait_loader_caught_up(settings: Settings, group_id: str | None = None, timeout_s: float = 90.0) -> None:
    """Block until ``loader_caught_up``; fail the test with the reason after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not loader_caught_up(settings, group_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"the loader did not commit every end offset in {timeout_s:.0f} s")
        time.sleep(0.25)
