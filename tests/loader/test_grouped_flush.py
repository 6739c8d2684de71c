"""One insert per flush across partitions, exactly once: a crash between insert and commit, then
owners of subsets of those partitions, then a full redelivery; and a warehouse that fails inside the
views of a flush whose loader dies before retrying (real Kafka and warehouse)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, Gauge

from pulse.contracts.events import CLICKHOUSE_TIME_FORMAT, EnrichedEvent, encode_event
from pulse.loader.batching import PartitionBatch
from pulse.loader.sink import WarehouseSink
from pulse.settings import Settings
from pulse.tls import kafka_options
from pulse.warehouse.client import connect
from pulse.worker.health import Health
from pulse.worker.offset_ranges import OffsetRangeWorker
from tests.support.stack import StackHandle

PARTITIONS = 4
EVENTS_PER_PARTITION = 40
#: What the killed loader had inserted of each partition, without committing it.
INSERTED_BEFORE_THE_CRASH = 15
POISON = b"not an event"

STORED = """
SELECT kafka_partition, kafka_offset, count() AS copies
FROM events WHERE kafka_topic = {topic:String}
GROUP BY kafka_partition, kafka_offset
"""
ROLLUP = "SELECT sum(events) FROM events_per_minute WHERE event = {event:String}"
DEAD = "SELECT count(), uniqExact(partition, offset) FROM loader_dead_letters WHERE topic = {topic:String}"
#: Ranges recorded by one intent insert (one flush): ``planned_at`` is that insert's ``now64(3)``.
PARTITIONS_PER_FLUSH = """
SELECT max(partitions) FROM
(
    SELECT planned_at, uniqExact(partition) AS partitions
    FROM loader_batches WHERE topic = {topic:String} GROUP BY planned_at
)
"""


def message(topic: str, partition: int, n: int, event: str) -> bytes:
    if n == 7:
        return POISON  # one dead letter per partition: its table is written exactly once too
    now = datetime.now(UTC) - timedelta(minutes=1)
    return encode_event(
        EnrichedEvent(
            message_id=f"{topic}-{partition}-{n}",
            call="track",
            event=event,
            event_time=now.strftime(CLICKHOUSE_TIME_FORMAT)[:-3],
            received_at=now.strftime(CLICKHOUSE_TIME_FORMAT)[:-3],
        )
    )


async def produce(settings: Settings, topic: str, event: str) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka_options(settings.kafka), acks="all")
    await producer.start()
    try:
        for partition in range(PARTITIONS):
            for n in range(EVENTS_PER_PARTITION):
                await producer.send(topic, message(topic, partition, n, event), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def crash_after_insert(settings: Settings, topic: str) -> None:
    """What a loader killed -9 between insert and commit leaves behind: the first ranges of every
    partition planned and inserted together (one flush), no offset committed."""
    sink = WarehouseSink(settings, lambda: connect(settings))
    await asyncio.to_thread(sink.write_all, await first_ranges(settings, topic))


async def first_ranges(settings: Settings, topic: str) -> list[PartitionBatch]:
    """The first ``INSERTED_BEFORE_THE_CRASH`` offsets of every partition, one batch each."""
    consumer = AIOKafkaConsumer(**kafka_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        batches = {tp: PartitionBatch(topic, tp.partition) for tp in partitions}
        while any(batch.last < INSERTED_BEFORE_THE_CRASH - 1 for batch in batches.values()):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    if record.offset < INSERTED_BEFORE_THE_CRASH:
                        batches[tp].add(record.offset, record.value)
    finally:
        await consumer.stop()
    return list(batches.values())


async def load(settings: Settings, topic: str, group_id: str, workers: int, *, grouped: bool = True) -> list[int]:
    """Run ``workers`` loaders in one group until it committed every partition's end; returns how
    many partitions each owned at the end."""
    loader = settings.loader.model_copy(
        update={"group_id": group_id, "max_batch_age_ms": 200, "group_partitions": grouped}
    )
    settings = settings.model_copy(update={"loader": loader})
    running = []
    for n in range(workers):
        sink = WarehouseSink(settings, lambda: connect(settings))
        lag = Gauge("pulse_test_grouped_lag", "lag", ["topic", "partition"], registry=CollectorRegistry())
        worker = OffsetRangeWorker(
            sink, settings.kafka, loader, [topic], role=f"grouped-{n}", health=Health(f"grouped-{n}"), lag=lag
        )
        running.append((worker, asyncio.create_task(worker.run())))  # all join at once: each gets a subset
    checker = AIOKafkaConsumer(**kafka_options(settings.kafka), group_id=group_id, enable_auto_commit=False)
    await checker.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + 120
        while [await checker.committed(tp) for tp in partitions] != [EVENTS_PER_PARTITION] * PARTITIONS:
            assert time.monotonic() < deadline, "the loaders did not commit every offset"
            assert not any(task.done() for _, task in running), [task for _, task in running if task.done()]
            await asyncio.sleep(0.2)
        owned = [len(worker.consumer.assignment()) for worker, _ in running]
    finally:
        await checker.stop()
        for worker, task in running:
            worker.stop()
            await asyncio.wait_for(task, 60)
    return owned


def figures(warehouse: Client, topic: str, event: str) -> tuple[dict[tuple[int, int], int], int, list[int]]:
    stored = {
        (int(p), int(o)): int(copies)
        for p, o, copies in warehouse.query(STORED, parameters={"topic": topic}).result_rows
    }
    rollup = int(warehouse.query(ROLLUP, parameters={"event": event}).result_rows[0][0])
    dead = [int(v) for v in warehouse.query(DEAD, parameters={"topic": topic}).result_rows[0]]
    return stored, rollup, dead


async def test_a_flush_spans_partitions_and_survives_a_crash_a_rebalance_and_a_redelivery(
    kafka_stack: Settings, warehouse_stack: Settings, test_stack: StackHandle
) -> None:
    test_stack.pulse("migrate", check=True)
    settings = warehouse_stack
    suffix = uuid.uuid4().hex[:8]
    topic, event = f"pulse.test.grouped.{suffix}", f"grouped_{suffix}"
    warehouse = connect(settings)
    await produce(settings, topic, event)
    await crash_after_insert(settings, topic)

    owned = await load(settings, topic, f"pulse-test-grouped-{suffix}", workers=2)
    assert sorted(owned) == [2, 2], "each new owner should hold a subset of the crashed flush's partitions"
    stored, rollup, dead = figures(warehouse, topic, event)
    expected = {(p, o) for p in range(PARTITIONS) for o in range(EVENTS_PER_PARTITION) if o != 7}
    assert set(stored) == expected and set(stored.values()) == {1}, "every event stored once"
    assert rollup == len(expected), "the rollup below counts every event once"
    assert dead == [PARTITIONS, PARTITIONS], "every dead letter stored once"
    per_flush = int(warehouse.query(PARTITIONS_PER_FLUSH, parameters={"topic": topic}).result_rows[0][0])
    assert per_flush >= 2, "a flush should plan (and insert) the ranges of several partitions together"

    await load(settings, topic, f"pulse-test-grouped-replay-{suffix}", workers=1)
    assert figures(warehouse, topic, event) == (stored, rollup, dead), "a full redelivery changes nothing"


def fragile_view(view: str, target: str, switch: str, topic: str) -> str:
    """A view below ``events`` that fails while ``switch`` holds a row: a warehouse dying inside the
    views of an insert, after ``events`` (and maybe other views) stored its rows. (Names are the
    test's own: hex suffixes.)"""
    return f"""
CREATE MATERIALIZED VIEW {view} TO {target} AS
SELECT kafka_partition, kafka_offset FROM events
WHERE kafka_topic = '{topic}'
  AND throwIf((SELECT count() FROM {switch}) > 0, 'the warehouse died inside the views') = 0
"""


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "per-range"])
async def test_a_flush_whose_views_died_with_its_loader_is_completed_by_the_rebuild(
    kafka_stack: Settings, warehouse_stack: Settings, test_stack: StackHandle, grouped: bool
) -> None:
    test_stack.pulse("migrate", check=True)
    settings = warehouse_stack
    suffix = uuid.uuid4().hex[:8]
    topic, event = f"pulse.test.viewsdied.{suffix}", f"viewsdied_{suffix}"
    view, target, switch = f"test_fragile_mv_{suffix}", f"test_fragile_{suffix}", f"test_fragile_switch_{suffix}"
    warehouse = connect(settings)
    warehouse.command(f"CREATE TABLE {switch} (on UInt8) ENGINE = MergeTree ORDER BY on")
    warehouse.command(
        f"CREATE TABLE {target} (kafka_partition UInt16, kafka_offset UInt64) ENGINE = MergeTree "
        "ORDER BY (kafka_partition, kafka_offset) SETTINGS non_replicated_deduplication_window = 10000"
    )
    warehouse.command(fragile_view(view, target, switch, topic))
    try:
        await produce(settings, topic, event)
        warehouse.command(f"INSERT INTO {switch} VALUES (1)")
        sink = WarehouseSink(settings, lambda: connect(settings))
        batches = await first_ranges(settings, topic)
        with contextlib.suppress(Exception):  # the loader dies here: nobody retries this write
            if grouped:
                await asyncio.to_thread(sink.write_all, batches)  # one flush of every partition's range
            else:
                await asyncio.to_thread(sink.write, batches[0])  # the first partition's range
        warehouse.command(f"TRUNCATE TABLE {switch}")
        stored, _, _ = figures(warehouse, topic, event)
        crashed = {(b.partition, o) for b in (batches if grouped else batches[:1]) for o in b.row_offsets}
        assert set(stored) == crashed, "the scenario needs the flush stored in events"
        assert int(warehouse.command(f"SELECT count() FROM {target}")) == 0, "and missing from the fragile view"

        await load(settings, topic, f"pulse-test-viewsdied-{suffix}", workers=1, grouped=grouped)
        stored, rollup, dead = figures(warehouse, topic, event)
        expected = {(p, o) for p in range(PARTITIONS) for o in range(EVENTS_PER_PARTITION) if o != 7}
        assert set(stored) == expected and set(stored.values()) == {1}, "every event stored once"
        in_view = warehouse.query(f"SELECT kafka_partition, kafka_offset, count() FROM {target} GROUP BY ALL")
        assert {(int(p), int(o)): int(n) for p, o, n in in_view.result_rows} == dict.fromkeys(expected, 1), (
            "the view the warehouse died in holds every event once: the rebuild repeated the crashed flush"
        )
        assert rollup == len(expected), "the rollup below counts every event once"
        assert dead == [PARTITIONS, PARTITIONS], "every dead letter stored once"
    finally:
        for name in (view, target, switch):
            warehouse.command(f"DROP TABLE IF EXISTS {name}")
