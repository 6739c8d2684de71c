"""The offset-range worker the loader (and the archiver) run on, against real Kafka and a sink in memory.

(It lives with the loader's tests because tests mirror the packages the loader work may touch; the
worker itself is ``pulse.worker.offset_ranges``.)
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry, Gauge

from pulse.settings import Settings
from pulse.tls import kafka_options
from pulse.worker.health import Health
from pulse.worker.offset_ranges import OffsetRangeWorker


@dataclass(frozen=True)
class Range:
    first: int
    last: int


@dataclass
class MemoryBatch:
    tp: TopicPartition
    must_end_at: int | None
    rebuild: bool
    offsets: list[int] = field(default_factory=list)
    opened_at: float = field(default_factory=time.monotonic)

    @property
    def last(self) -> int:
        return self.offsets[-1]


class MemoryBatching:
    """How both test sinks cut batches: offsets in memory, a rebuild stops at its planned end."""

    def forget(self, tp: TopicPartition) -> None:
        return

    def new_batch(
        self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes], plan: Range | None, must_end_at: int | None
    ) -> MemoryBatch:
        return MemoryBatch(tp, must_end_at, rebuild=plan is not None)

    def add(self, batch: MemoryBatch, record: ConsumerRecord[bytes, bytes]) -> bool:
        if batch.must_end_at is not None and record.offset > batch.must_end_at:
            return False
        batch.offsets.append(record.offset)
        return True


@dataclass
class MemorySink(MemoryBatching):
    """Ranges land in a dict keyed by the range (writing one twice changes nothing), like a token or a key."""

    planned: dict[TopicPartition, list[Range]]
    failures_left: int = 1
    dependency: str = "memory"
    stored: dict[tuple[TopicPartition, int, int], bool] = field(default_factory=dict)
    errors: int = 0

    def planned_ranges(self, committed: Mapping[TopicPartition, int]) -> dict[TopicPartition, list[Range]]:
        return {tp: [r for r in self.planned.get(tp, []) if r.last >= offset] for tp, offset in committed.items()}

    def ready(self, batch: MemoryBatch, now: float) -> bool:
        if batch.rebuild:
            return batch.last == batch.must_end_at
        return batch.last == batch.must_end_at or len(batch.offsets) >= 4 or now - batch.opened_at >= 0.2

    def write(self, batch: MemoryBatch) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the store is down")
        self.stored[(batch.tp, batch.offsets[0], batch.last)] = batch.rebuild

    def written(self, batch: MemoryBatch, *, committed: bool, seconds: float) -> None:
        assert committed

    def failed(self, operation: str, error: Exception, batch: MemoryBatch | None) -> None:
        self.errors += 1


@dataclass(frozen=True)
class Group:
    group_id: str
    max_batch_rows: int = 100
    max_concurrent_writes: int = 2


async def test_planned_ranges_are_cut_again_exactly_and_every_offset_is_written_once(kafka_stack: Settings) -> None:
    topic = f"pulse.test.worker.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_options(kafka_stack.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka_options(kafka_stack.kafka), acks="all")
    await producer.start()
    try:
        for partition in (0, 1):
            for n in range(10):
                await producer.send_and_wait(topic, f"{partition}-{n}".encode(), partition=partition)
    finally:
        await producer.stop()

    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    # A previous owner recorded [3, 7] on partition 0 and died before committing it.
    sink = MemorySink(planned={p0: [Range(3, 7)]})
    group = Group(f"pulse-test-worker-{uuid.uuid4().hex[:8]}")
    health = Health("worker-test")
    lag = Gauge("pulse_test_worker_lag", "lag", ["topic", "partition"], registry=CollectorRegistry())
    worker = OffsetRangeWorker(sink, kafka_stack.kafka, group, [topic], role="test", health=health, lag=lag)
    running = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 60
        while sum(last - first + 1 for _, first, last in sink.stored) < 20:
            assert time.monotonic() < deadline, f"not everything was written: {sink.stored}"
            assert not running.done(), running
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)

    ranges = {tp: sorted((first, last) for t, first, last in sink.stored if t == tp) for tp in (p0, p1)}
    assert (3, 7) in ranges[p0] and sink.stored[(p0, 3, 7)] is True, "the planned range is rebuilt as it was cut"
    for tp in (p0, p1):
        offsets = [offset for first, last in ranges[tp] for offset in range(first, last + 1)]
        assert offsets == list(range(10)), f"{tp}: {ranges[tp]} must tile [0, 10) with no gap and no overlap"
    assert all(last - first + 1 <= 5 for first, last in ranges[p0] if (first, last) != (3, 7))
    assert sink.errors == 1 and health.report()[0] == 200 and b'"failing":{}' in health.report()[1]

    consumer = AIOKafkaConsumer(**kafka_options(kafka_stack.kafka), group_id=group.group_id)
    await consumer.start()
    try:
        assert [await consumer.committed(tp) for tp in (p0, p1)] == [10, 10]
    finally:
        await consumer.stop()


@dataclass
class SlowStore(MemoryBatching):
    """A store like the loader's warehouse under load: intents recorded before the rows, a recovery
    that answers from what was recorded when it started. Its first write is still running when the
    next recovery reads (up to 3 s: a worker that waits for it before giving up its partitions must
    not hang)."""

    intents: list[tuple[TopicPartition, int, int]] = field(default_factory=list)
    stored: list[tuple[TopicPartition, int, int]] = field(default_factory=list)
    recoveries: int = 0
    writing: threading.Event = field(default_factory=threading.Event)
    recovered: threading.Event = field(default_factory=threading.Event)
    dependency: str = "slow"

    def planned_ranges(self, committed: Mapping[TopicPartition, int]) -> dict[TopicPartition, list[Range]]:
        snapshot = sorted(set(self.intents), key=lambda r: (r[0], r[1]))
        self.recoveries += 1
        if self.recoveries > 1:
            self.recovered.set()
            time.sleep(0.3)  # a slow query: what is recorded meanwhile is not in its answer
        planned: dict[TopicPartition, list[Range]] = {}
        for tp, first, last in snapshot:
            if tp in committed and last >= committed[tp]:
                planned.setdefault(tp, []).append(Range(first, last))
        return planned

    def ready(self, batch: MemoryBatch, now: float) -> bool:
        if batch.rebuild:
            return batch.last == batch.must_end_at
        return batch.last == batch.must_end_at or now - batch.opened_at >= 0.3

    def write(self, batch: MemoryBatch) -> None:
        if not batch.rebuild:
            self.intents.append((batch.tp, batch.offsets[0], batch.last))
        if not self.writing.is_set():
            self.writing.set()
            self.recovered.wait(3)
        else:
            time.sleep(0.02)
        self.stored.append((batch.tp, batch.offsets[0], batch.last))

    def written(self, batch: MemoryBatch, *, committed: bool, seconds: float) -> None:
        return

    def failed(self, operation: str, error: Exception, batch: MemoryBatch | None) -> None:
        raise AssertionError(f"{operation} failed: {error}")


async def test_a_rebalance_during_a_write_never_writes_an_offset_twice(kafka_stack: Settings) -> None:
    """A rebalance arrives while a flush is writing several partitions' batches (in the chaos run: the
    loader paused past its session timeout rejoined). What is written after the partitions were
    revoked must not escape the recovery that follows, or the same offsets are written again under
    a different cut (a second deduplication token: the chaos run's double count)."""
    topic, other = (f"pulse.test.rebalance.{uuid.uuid4().hex[:8]}{suffix}" for suffix in ("", ".other"))
    partitions, per_partition = 4, 200
    admin = AIOKafkaAdminClient(**kafka_options(kafka_stack.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1), NewTopic(other, 1, 1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(**kafka_options(kafka_stack.kafka), acks="all")
    await producer.start()

    async def produce(numbers: range, pause_s: float) -> None:
        for n in numbers:
            for partition in range(partitions):
                await producer.send(topic, f"{partition}-{n}".encode(), partition=partition)
            await asyncio.sleep(pause_s)
        await producer.flush()

    # A backlog on every partition, so the first flush writes a batch of each (one after the other),
    # then steady traffic, so a batch cut again after the rebalance differs from the one written.
    await produce(range(20), 0)

    store = SlowStore()
    group = Group(f"pulse-test-rebalance-{uuid.uuid4().hex[:8]}", max_batch_rows=1000, max_concurrent_writes=1)
    lag = Gauge("pulse_test_rebalance_lag", "lag", ["topic", "partition"], registry=CollectorRegistry())
    worker = OffsetRangeWorker(
        store,
        kafka_stack.kafka,
        group,
        [topic],
        role="test",
        health=Health("rebalance-test"),
        lag=lag,
        heartbeat_interval_ms=100,
    )
    producing = asyncio.create_task(produce(range(20, per_partition), 0.01))
    running = asyncio.create_task(worker.run())
    # Another member joins while the first write runs (on another topic: this worker keeps its
    # partitions, but they are revoked and assigned again, and recovered from the store).
    member = AIOKafkaConsumer(other, **kafka_options(kafka_stack.kafka), group_id=group.group_id)
    try:
        assert await asyncio.to_thread(store.writing.wait, 60), "nothing was written"
        await member.start()

        def covered() -> int:
            return len({(tp, offset) for tp, first, last in store.stored for offset in range(first, last + 1)})

        deadline = time.monotonic() + 60
        while not producing.done() or covered() < partitions * per_partition:
            assert time.monotonic() < deadline, f"not everything was written: {covered()}"
            assert not running.done(), running
            await asyncio.sleep(0.1)
        await producing
    finally:
        producing.cancel()
        await producer.stop()
        await member.stop()
        worker.stop()
        await asyncio.wait_for(running, 30)

    assert store.recovered.is_set(), "no rebalance happened while the worker wrote"
    for partition in range(partitions):
        tp = TopicPartition(topic, partition)
        ranges = sorted({(first, last) for t, first, last in store.stored if t == tp})
        offsets = [offset for first, last in ranges for offset in range(first, last + 1)]
        assert offsets == list(range(per_partition)), f"{tp}: {ranges} must tile [0, {per_partition}) once"
