"""The exactly-once offset-range worker: Kafka partitions -> ranges of offsets -> a durable sink.

One loop serves every store that can make a range of one partition durable under a name derived
from the range alone (the loader's warehouse, the archiver's S3 bucket):

1. The sink records a range as an *intent* before writing it, and writes it so that writing the
   same range again changes nothing (a deduplication token, an object key).
2. Offsets are committed only after ``write`` returned, so what Kafka acknowledged is never lost;
   a failing sink is retried forever and only grows lag.
3. A new owner of a partition asks the sink for the intents at or after the committed offset and
   cuts exactly those ranges again (``rebuild``), so a crash between write and commit is repaired by
   rewriting the same range, never by a second, differently cut one.
4. For that, the store must hold every range this worker wrote before anyone recovers: once a
   rebalance revokes a partition nothing more is written for it (a batch not yet written is
   dropped: its next owner reads it again), and the revocation waits for the write running.

The seam is ``OffsetRangeSink``: blocking calls (run in worker threads) that know the store and
the batch format; everything about Kafka (assignment, batching per partition, bounded parallel
writes, commits, lag, health) is here, once.

A sink that also has ``write_all`` and sets ``groups_partitions`` (a ``GroupSink``: the loader's
warehouse with ``PULSE_LOADER__GROUP_PARTITIONS``) gets every partition's
batch of a flush in one call, so it can store them in one write: when one batch is due, every
batch that may be cut is flushed with it. Such a sink cannot rewrite "the same range under the
same name" for a range alone. It names the recorded flush a planned range belongs to
(``rebuild_group``), and the worker hands over the rebuilt ranges of one flush together, once all
of them it rebuilds are complete (a partition whose range is complete first is paused meanwhile),
so the sink can repeat that flush's write whole. Where it cannot (the flush's partitions are split
between owners), it must itself skip what a previous write already stored of a rebuilt range.
That check is only sound if no other write of those partitions can still land afterwards, so a
revocation waits for the write in flight, and no write starts for a partition being revoked
(``settle``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from prometheus_client import Gauge

from pulse.settings import KafkaSettings
from pulse.worker.assignments import Assignments
from pulse.worker.health import Health
from pulse.worker.kafka_consumer import partition_consumer, start_consumer
from pulse.worker.resilience import report_lag_forever, retry_reported

log = logging.getLogger(__name__)
T = TypeVar("T")

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class Planned(Protocol):
    """A range a previous owner recorded as an intent (written or not)."""

    @property
    def first(self) -> int: ...
    @property
    def last(self) -> int: ...


class Batch(Protocol):
    """Consecutive records of one partition, never empty: what the worker needs to know of a sink's batch."""

    @property
    def last(self) -> int: ...
    @property
    def must_end_at(self) -> int | None:
        """The batch may not extend past this offset (a rebuild's end, or the next planned range)."""

    @property
    def rebuild(self) -> bool:
        """A planned range cut again: it ends exactly at ``must_end_at``, whatever its size or age."""


B = TypeVar("B", bound=Batch)
P = TypeVar("P", bound=Planned)


class OffsetRangeSink(Protocol[B, P]):
    """A store that makes offset ranges durable exactly once. Blocking calls run in worker threads."""

    #: What ``/healthz`` names while the store fails (``"warehouse"``, ``"s3"``).
    dependency: str

    def planned_ranges(self, committed: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, Sequence[P]]:
        """Blocking: the intents at or after each newly assigned partition's committed offset, in offset
        order (and whatever else the sink remembers per partition)."""

    def forget(self, tp: TopicPartition) -> None:
        """Drop what the sink remembers of a partition this worker no longer owns."""

    def new_batch(self, tp: TopicPartition, record: Record, plan: P | None, must_end_at: int | None) -> B:
        """An empty batch for ``record``: a rebuild of ``plan`` (ending at its ``last``), or a new
        range that ends at ``must_end_at`` at the latest (just before the next planned range)."""

    def add(self, batch: B, record: Record) -> bool:
        """Add ``record`` to ``batch``; False if it lies past the batch's end (it starts the next one)."""

    def ready(self, batch: B, now: float) -> bool:
        """Whether ``batch`` is to be written now (size, age, its end reached)."""

    def write(self, batch: B) -> None:
        """Blocking: record the intent (unless rebuilding), then write the range idempotently; durable
        on return. Raising is retried (with the same batch) until it succeeds."""

    def written(self, batch: B, *, committed: bool, seconds: float) -> None:
        """Blocking: after the commit (``committed`` False: lost the partition, the next owner rebuilds):
        clean up the intent if the sink does, count metrics (``seconds``: writing, retries included)."""

    def failed(self, operation: str, error: Exception, batch: B | None) -> None:
        """Count a failed sink call (``operation``: "recovery" or "write") in the sink's metrics."""


class GroupSink(OffsetRangeSink[B, P], Protocol):
    """A sink that stores the batches of several partitions in one write (see the module docstring)."""

    #: Whether the worker should hand it every batch of a flush at once.
    groups_partitions: bool

    def write_all(self, batches: Sequence[B]) -> None:
        """Blocking: record the intents of the new ranges, then write every batch together; rebuilt
        ranges are a recorded flush's write repeated, or skip what the store already holds. A retry
        gets the same batches (fewer if a partition was revoked meanwhile) and must be idempotent,
        as ``write``."""

    def rebuild_group(self, plan: P) -> str:
        """The recorded flush whose rebuilt ranges are to be handed over together ('' for none)."""


class GroupSettings(Protocol):
    """The settings every offset-range worker has (``LoaderSettings``, ``ArchiveSettings``)."""

    @property
    def group_id(self) -> str: ...
    @property
    def max_batch_rows(self) -> int: ...
    @property
    def max_concurrent_writes(self) -> int: ...


class OffsetRangeWorker(Generic[B, P]):
    """Consumes ``topics`` into ``sink`` in exactly-once ranges until ``stop()``.

    ``role`` names the Kafka client and log lines, ``lag`` is the worker's own gauge
    (``topic``, ``partition``), ``consumer_options`` override ``partition_consumer``'s.
    """

    def __init__(
        self,
        sink: OffsetRangeSink[B, P],
        kafka: KafkaSettings,
        group: GroupSettings,
        topics: list[str],
        *,
        role: str,
        health: Health,
        lag: Gauge,
        **consumer_options: Any,
    ) -> None:
        self.sink = sink
        self.kafka = kafka
        self.topics = topics
        self.role = role
        self.health = health
        self.lag = lag
        self.max_fetch_records = group.max_batch_rows
        self.max_concurrent_writes = max(1, group.max_concurrent_writes)
        self.consumer = partition_consumer(kafka, group_id=group.group_id, role=role, **consumer_options)
        self.assignments = Assignments(self.consumer, self)
        self.batches: dict[TopicPartition, B] = {}
        self.planned: dict[TopicPartition, deque[P]] = {}
        #: Next offset to write per partition (what lag is measured from).
        self.next_offset: dict[TopicPartition, int] = {}
        #: The sink write running per partition (a revocation waits for it).
        self.writing: dict[TopicPartition, asyncio.Future[None]] = {}
        #: Partitions whose batch rebuilds a range of a recorded flush (grouping sinks): the flush.
        self.rebuilding: dict[TopicPartition, str] = {}
        #: Partitions paused with a complete rebuild until the rest of its flush is complete.
        self.held: set[TopicPartition] = set()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def _retrying(self, operation: str, call: Callable[[], Awaitable[T]], batch: B | None = None) -> T:
        return await retry_reported(
            call,
            health=self.health,
            dependency=self.sink.dependency,
            operation=operation,
            count=lambda error: self.sink.failed(operation, error, batch),
        )

    # -- assignment (called by ``Assignments``) --------------------------------------------------

    def forget(self, tp: TopicPartition) -> None:
        """Not written, not committed: the next owner re-reads (and re-plans) these records."""
        self.batches.pop(tp, None)
        self.planned.pop(tp, None)
        self.next_offset.pop(tp, None)
        self.rebuilding.pop(tp, None)
        self.held.discard(tp)
        self.sink.forget(tp)
        with contextlib.suppress(KeyError):
            self.lag.remove(tp.topic, str(tp.partition))

    async def settle(self, revoked: list[TopicPartition]) -> None:
        """Wait for the sink writes still running for ``revoked`` partitions (none starts any more)."""
        running = [self.writing[tp] for tp in revoked if tp in self.writing]
        if running:
            log.info("partitions revoked: waiting for their writes to land", extra={"writes": len(running)})
            await asyncio.wait(running)

    async def recover(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Load the ranges planned since each partition's committed offset.

        Consuming before this succeeds could cut different ranges and write twice, so a sink that
        cannot answer holds the assignment here until it can.
        """
        committed = {tp: await self.consumer.committed(tp) or 0 for tp in partitions}
        # Lag counts from the commit right away: an outage during recovery must show in metrics.
        self.next_offset.update(committed)
        planned = await self._retrying("recovery", lambda: asyncio.to_thread(self.sink.planned_ranges, committed))
        for tp in partitions:
            ranges = planned.get(tp, ())
            self.batches.pop(tp, None)
            self.planned[tp] = deque(ranges)
            if ranges:
                log.info(
                    "rebuilding planned ranges",
                    extra={
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "ranges": len(ranges),
                        "first": ranges[0].first,
                    },
                )
        return committed

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        self.consumer.subscribe(self.topics, listener=self.assignments)
        await start_consumer(self.consumer, self.kafka, self.role)
        lag_task = asyncio.create_task(report_lag_forever(self.consumer, lambda: self.next_offset, self.lag))
        try:
            while not self._stopping.is_set():
                self.health.beat()
                records = await self.consumer.getmany(timeout_ms=100, max_records=self.max_fetch_records)
                generation = self.assignments.generation
                for tp, messages in records.items():
                    await self._accept(tp, messages, generation)
                await self._flush(only_ready=True)
            await self._flush(only_ready=False)
        finally:
            lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag_task
            await self.consumer.stop()

    def _new_batch(self, tp: TopicPartition, record: Record) -> B:
        """A rebuild if a planned range covers ``record``, else a new range that stops short of the next."""
        planned = self.planned.get(tp)
        while planned and planned[0].last < record.offset:
            planned.popleft()
        if planned and planned[0].first <= record.offset:
            plan = planned.popleft()
            flush = self._rebuild_group(plan)
            if flush:
                self.rebuilding[tp] = flush
            return self.sink.new_batch(tp, record, plan, plan.last)
        return self.sink.new_batch(tp, record, None, planned[0].first - 1 if planned else None)

    def _current(self, tp: TopicPartition, generation: int) -> bool:
        """Whether records fetched under ``generation`` may still be used (no rebalance since)."""
        return generation == self.assignments.generation and self.assignments.owns(tp)

    async def _accept(self, tp: TopicPartition, records: list[Record], generation: int) -> None:
        """Add one partition's fetched records to its batch, writing a batch where it must end."""
        if not self._current(tp, generation):
            return  # fetched before a rebalance: read again from the committed offset
        batch = self.batches.get(tp)
        for record in records:
            if batch is not None and not self.sink.add(batch, record):
                flush = self.rebuilding.get(tp)
                if flush and not self._flush_rebuilt(flush):
                    # Complete, but the rest of its flush is not: read on from here once it is written.
                    self.consumer.seek(tp, record.offset)
                    self.consumer.pause(tp)
                    self.held.add(tp)
                    return
                if flush:
                    await self._write_rebuilt(flush)
                else:
                    await self._write(tp, batch)
                if not self._current(tp, generation):
                    return
                batch = None
            if batch is None:
                batch = self.batches[tp] = self._new_batch(tp, record)
                if not self.sink.add(batch, record):
                    raise AssertionError(f"a new batch refused its first record ({tp}, {record.offset})")

    async def _flush(self, *, only_ready: bool) -> None:
        now = time.monotonic()
        due: list[tuple[TopicPartition, B]] = []
        any_ready = False
        for flush in set(self.rebuilding.values()):
            if self._flush_rebuilt(flush):
                await self._write_rebuilt(flush)
        for tp, batch in list(self.batches.items()):
            if batch.rebuild and batch.last < (batch.must_end_at or 0):
                continue  # an incomplete rebuild must not be cut short: leave it uncommitted
            if tp in self.rebuilding:
                continue  # written with the rest of its flush
            ready = self.sink.ready(batch, now)
            any_ready = any_ready or ready
            if ready or not only_ready or self._grouping:
                due.append((tp, batch))
        if not due or (only_ready and not any_ready):
            return
        if self._grouping:
            await self._write_group(due)
        else:
            await self._write_all(due)

    @property
    def _grouping(self) -> bool:
        return bool(getattr(self.sink, "groups_partitions", False)) and callable(getattr(self.sink, "write_all", None))

    def _rebuild_group(self, plan: P) -> str:
        if not self._grouping:
            return ""
        sink: GroupSink[B, P] = self.sink  # type: ignore[assignment]
        return sink.rebuild_group(plan)

    def _flush_rebuilt(self, flush: str) -> bool:
        """Whether every range of recorded ``flush`` this worker rebuilds is complete."""
        if any(self._rebuild_group(plan) == flush for planned in self.planned.values() for plan in planned):
            return False  # a range of it is not even started
        batches = [self.batches.get(tp) for tp, of in self.rebuilding.items() if of == flush]
        return all(batch is not None and batch.last >= (batch.must_end_at or 0) for batch in batches)

    async def _write_rebuilt(self, flush: str) -> None:
        """Write the rebuilt ranges of one recorded flush together, then read on where they paused."""
        members = [tp for tp, of in self.rebuilding.items() if of == flush and tp in self.batches]
        if members:
            await self._write_group([(tp, self.batches[tp]) for tp in members])
        for tp in members:
            self.rebuilding.pop(tp, None)
        resumed = [tp for tp in members if tp in self.held and self.assignments.owns(tp)]
        self.held.difference_update(members)
        if resumed:
            self.consumer.resume(*resumed)

    async def _write_all(self, due: list[tuple[TopicPartition, B]]) -> None:
        """Write different partitions' batches side by side (at most one per partition, so each
        partition's commits stay in order): a write costs mostly round trips and GIL-free work
        (warehouse inserts, Arrow encoding, S3 uploads)."""
        limit = asyncio.Semaphore(self.max_concurrent_writes)

        async def write(tp: TopicPartition, batch: B) -> None:
            async with limit:
                await self._write(tp, batch)

        await asyncio.gather(*(write(tp, batch) for tp, batch in due))

    async def _write_group(self, due: list[tuple[TopicPartition, B]]) -> None:
        """Write every due batch in one sink call (retried until it succeeds, without the batches of
        partitions revoked meanwhile), then commit all their offsets at once."""
        sink: GroupSink[B, P] = self.sink  # type: ignore[assignment]
        group = due

        async def attempt() -> bool:
            nonlocal group
            group = [(tp, batch) for tp, batch in group if self._owned(tp, batch)]
            if not group:
                return False
            batches = [batch for _, batch in group]
            write = self.writing[group[0][0]] = asyncio.ensure_future(asyncio.to_thread(sink.write_all, batches))
            for tp, _ in group:
                self.writing[tp] = write
            try:
                await write
            finally:
                for tp, _ in group:
                    if self.writing.get(tp) is write:
                        del self.writing[tp]
            return True

        started = time.perf_counter()
        if not await self._retrying("write", attempt, due[0][1]):
            return  # every partition was revoked: their next owners rebuild the ranges from the intents
        seconds = time.perf_counter() - started
        # Revoked while writing: the recovery that follows finds those ranges' intents and rebuilds them.
        kept = [(tp, batch) for tp, batch in group if self._owned(tp, batch)]
        committed = False
        if kept:
            try:
                await self.consumer.commit({tp: batch.last + 1 for tp, batch in kept})
                committed = True
            except KafkaError as error:
                log.warning(
                    "offset commit failed; the ranges will be rebuilt",
                    extra={"partitions": [f"{tp.topic}/{tp.partition}" for tp, _ in kept], "error": str(error)},
                )
        for tp, batch in group:
            done = committed and any(tp == k for k, _ in kept)
            await asyncio.to_thread(self.sink.written, batch, committed=done, seconds=seconds)
            if self.batches.get(tp) is batch:
                self.next_offset[tp] = batch.last + 1
                del self.batches[tp]

    def _owned(self, tp: TopicPartition, batch: B) -> bool:
        """Whether ``batch`` is still its partition's batch (a revocation forgets it) and owned."""
        return self.batches.get(tp) is batch and self.assignments.owns(tp)

    async def _attempt(self, tp: TopicPartition, batch: B) -> bool:
        """One try at writing ``batch``: False, writing nothing, once its partition was revoked (its
        next owner recovers from the store, which must not change after that)."""
        if not self._owned(tp, batch):
            return False
        write = asyncio.ensure_future(asyncio.to_thread(self.sink.write, batch))
        self.writing[tp] = write
        try:
            await write
        finally:
            if self.writing.get(tp) is write:
                del self.writing[tp]
        return True

    async def _write(self, tp: TopicPartition, batch: B) -> None:
        """Write one batch (retrying until the sink takes it), then commit its offsets."""
        if self._grouping:
            await self._write_group([(tp, batch)])
            return
        where = {"topic": tp.topic, "partition": tp.partition, "last": batch.last}
        started = time.perf_counter()
        if not await self._retrying("write", lambda: self._attempt(tp, batch), batch):
            log.info("partition revoked before the batch was written; its next owner reads it again", extra=where)
            return
        seconds = time.perf_counter() - started
        committed = False
        if not self._owned(tp, batch):
            # Revoked while writing: the recovery that follows finds this range's intent and rebuilds it.
            log.info("partition revoked while writing; the range will be rebuilt", extra=where)
        else:
            try:
                await self.consumer.commit({tp: batch.last + 1})
                committed = True
            except KafkaError as error:
                # Lost the partition in a rebalance: its next owner rebuilds this range from the intent.
                log.warning("offset commit failed; the range will be rebuilt", extra={**where, "error": str(error)})
        await asyncio.to_thread(self.sink.written, batch, committed=committed, seconds=seconds)
        if self.batches.get(tp) is batch:
            self.next_offset[tp] = batch.last + 1
            del self.batches[tp]
