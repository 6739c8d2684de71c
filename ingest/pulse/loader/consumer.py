"""The loader's consumer-group loop: Kafka topics -> offset-range batches -> the warehouse.

Offsets are committed only after the warehouse accepted a batch, so nothing acknowledged by
Kafka is lost; the intent log and deduplication tokens make redelivery harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from pulse.contracts.events import Family
from pulse.errors import PulseError
from pulse.loader import metrics
from pulse.loader.batching import PartitionBatch
from pulse.loader.sink import Intent, WarehouseSink
from pulse.settings import Settings
from pulse.worker.client_retries import RecentIds
from pulse.worker.kafka_consumer import partition_consumer
from pulse.worker.resilience import retry_forever

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class _Recovery(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, rebuild any range that was planned but may not have been committed."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # Not yet written, not committed: the next owner re-reads these messages.
        for tp in revoked:
            self.loader.batches.pop(tp, None)
            self.loader.planned.pop(tp, None)
            self.loader.recovering.discard(tp)
            self.loader.recent_ids.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # aiokafka assigns (and may fetch) before awaiting this callback: hold the partitions
        # before the first await, so no record is batched until the plans are known.
        partitions = list(assigned)
        self.loader.recovering.update(partitions)
        self.loader.consumer.pause(*partitions)
        await self.loader.recover(partitions)


class Loader:
    """Consumes the warehouse topics and writes exactly-once batches until ``stop()``."""

    def __init__(self, settings: Settings, sink: WarehouseSink, topics: list[str]) -> None:
        self.settings = settings
        self.sink = sink
        self.topics = topics
        self.batches: dict[TopicPartition, PartitionBatch] = {}
        self.planned: dict[TopicPartition, deque[Intent]] = {}
        #: Assigned partitions whose planned ranges are still being read: their records are ignored.
        self.recovering: set[TopicPartition] = set()
        #: Recent messageIds per partition, rebuilt from the warehouse on every assignment.
        self.recent_ids: dict[TopicPartition, RecentIds] = {}
        #: The collector's dead-letter topic, whose messages land in ``rejected_events``.
        self.rejected_topic = settings.kafka.topic(Family.DEAD_LETTER)
        self._stopping = asyncio.Event()
        self.consumer = partition_consumer(settings.kafka, group_id=settings.loader.group_id, role="loader")

    def stop(self) -> None:
        self._stopping.set()

    async def recover(self, assigned: list[TopicPartition]) -> None:
        """Load the ranges already planned from each assigned partition's committed offset on.

        Consuming before this succeeds could cut different ranges and double-count, so a
        warehouse that cannot answer holds the assignment here until it can.
        """
        committed: dict[str, dict[int, int]] = {}
        for tp in assigned:
            self.batches.pop(tp, None)
            committed.setdefault(tp.topic, {})[tp.partition] = await self.consumer.committed(tp) or 0

        async def read_plans() -> tuple[dict[str, dict[int, list[Intent]]], dict[TopicPartition, RecentIds]]:
            plans = {
                topic: await asyncio.to_thread(self.sink.planned_ranges, topic, offsets)
                for topic, offsets in committed.items()
            }
            return plans, {tp: await asyncio.to_thread(self._recent_ids, tp) for tp in assigned}

        def failed(error: Exception, delay: float) -> None:
            metrics.WRITE_ERRORS.labels("recovery").inc()
            log.warning("cannot read planned ranges, retrying", extra={"error": str(error)[:500], "delay_s": delay})

        planned, recent = await retry_forever(read_plans, delays=RETRY_DELAYS_S, on_error=failed)
        still_assigned = self.consumer.assignment()
        for tp in assigned:
            if tp not in still_assigned:
                continue  # revoked while the plans were read
            ranges = planned[tp.topic].get(tp.partition, [])
            self.planned[tp] = deque(ranges)
            self.recent_ids[tp] = recent[tp]
            # Records fetched while the plans were read were ignored: start again from the commit.
            offset = committed[tp.topic][tp.partition]
            if offset:
                self.consumer.seek(tp, offset)
            else:
                await self.consumer.seek_to_beginning(tp)
            self.recovering.discard(tp)
            if ranges:
                log.info(
                    "replaying planned ranges",
                    extra={
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "ranges": len(ranges),
                        "first": ranges[0].first,
                    },
                )
        self.consumer.resume(*(tp for tp in assigned if tp in still_assigned))

    def _recent_ids(self, tp: TopicPartition) -> RecentIds:
        """What this partition stored recently: retries of those messages must be dropped."""
        loader = self.settings.loader
        ids = self.sink.recent_message_ids(tp.topic, tp.partition, loader.dedup_window_s, loader.dedup_max_ids)
        return RecentIds(loader.dedup_max_ids, ids)

    def _new_batch(self, tp: TopicPartition, offset: int) -> PartitionBatch:
        """A batch starting at ``offset``: a rebuild if a planned range covers it, else a new one
        that stops short of the next planned range."""
        planned = self.planned.get(tp)
        while planned and planned[0].last < offset:
            planned.popleft()
        rejected = tp.topic == self.rejected_topic
        if planned and planned[0].first <= offset:
            return PartitionBatch(
                tp.topic, tp.partition, must_end_at=planned.popleft().last, rebuild=True, rejected=rejected
            )
        boundary = planned[0].first - 1 if planned else None
        return PartitionBatch(tp.topic, tp.partition, must_end_at=boundary, rejected=rejected)

    async def run(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Recovery(self))
        try:
            await self.consumer.start()
        except KafkaError as error:
            await self.consumer.stop()
            raise PulseError(
                f"loader: cannot reach Kafka at {self.settings.kafka.bootstrap_servers} ({error}); "
                "start it with `pulse stack up` or set PULSE_KAFKA__BOOTSTRAP_SERVERS"
            ) from error
        last_lag_report = 0.0
        try:
            while not self._stopping.is_set():
                records = await self.consumer.getmany(timeout_ms=100, max_records=self.settings.loader.max_batch_rows)
                for tp, messages in records.items():
                    for message in messages:
                        await self._accept(tp, message)
                await self._flush(only_ready=True)
                if time.monotonic() - last_lag_report >= 1.0:
                    await self._report_lag()
                    last_lag_report = time.monotonic()
            await self._flush(only_ready=False)
        finally:
            await self.consumer.stop()

    async def _accept(self, tp: TopicPartition, message: ConsumerRecord[bytes, bytes]) -> None:
        if tp in self.recovering or tp not in self.consumer.assignment():
            return  # fetched before a rebalance: it is read again from the committed offset
        batch = self.batches.get(tp)
        if batch is not None and not batch.accepts(message.offset):
            await self._write(tp, batch)
            batch = None
        if batch is None:
            batch = self.batches[tp] = self._new_batch(tp, message.offset)
        recent = None if batch.rejected else self.recent_ids.get(tp)
        batch.add(message.offset, message.value, recent.seen if recent is not None else None)

    async def _flush(self, *, only_ready: bool) -> None:
        max_rows = self.settings.loader.max_batch_rows
        max_age_s = self.settings.loader.max_batch_age_ms / 1000
        now = time.monotonic()
        due: list[tuple[TopicPartition, PartitionBatch]] = []
        for tp, batch in list(self.batches.items()):
            if batch.first is None:
                continue
            if only_ready and not batch.is_ready(max_rows, max_age_s, now):
                continue
            if not only_ready and batch.rebuild and batch.last < (batch.must_end_at or 0):
                continue  # an incomplete rebuild must not be cut short: leave it uncommitted
            due.append((tp, batch))
        await self._write_all(due)

    async def _write_all(self, due: list[tuple[TopicPartition, PartitionBatch]]) -> None:
        """Write different partitions' batches side by side: each insert carries its own token and
        commit, and a warehouse insert costs mostly fixed time (the views below ``events``)."""
        limit = asyncio.Semaphore(self.settings.loader.max_concurrent_writes)

        async def write(tp: TopicPartition, batch: PartitionBatch) -> None:
            async with limit:
                await self._write(tp, batch)

        await asyncio.gather(*(write(tp, batch) for tp, batch in due))

    async def _write(self, tp: TopicPartition, batch: PartitionBatch) -> None:
        """Write one batch, retrying until the warehouse takes it, then commit its offsets.

        Retrying forever is deliberate: the messages stay uncommitted in Kafka, so a warehouse
        outage only grows lag; it never drops data.
        """
        kind = "rebuild" if batch.rebuild else "new"

        def failed(error: Exception, delay: float) -> None:
            metrics.WRITE_ERRORS.labels(tp.topic).inc()
            log.warning("warehouse write failed, retrying", extra={"error": str(error)[:500], "delay_s": delay})

        started = time.perf_counter()
        offsets = await retry_forever(
            lambda: asyncio.to_thread(self.sink.write, batch), delays=RETRY_DELAYS_S, on_error=failed
        )
        metrics.INSERT_SECONDS.observe(time.perf_counter() - started)
        try:
            await self.consumer.commit({tp: offsets.last + 1})
        except KafkaError as error:
            # Lost the partition in a rebalance: its next owner rebuilds this range from the intent.
            log.warning(
                "offset commit failed; the range will be rebuilt", extra={"error": str(error), "token": offsets.token}
            )
        metrics.ROWS.labels(tp.topic).inc(len(batch.rows))
        metrics.DEAD_LETTERS.labels(tp.topic).inc(len(batch.dead_letters))
        metrics.DUPLICATES.labels(tp.topic).inc(batch.duplicates)
        metrics.BATCHES.labels(tp.topic, kind).inc()
        if self.batches.get(tp) is batch:
            del self.batches[tp]

    async def _report_lag(self) -> None:
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                position = await self.consumer.position(tp)
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
