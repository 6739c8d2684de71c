"""The archiver's consumer-group loop: raw topics -> offset ranges -> Parquet objects in S3.

Exactly once in the archive, under crashes, S3 outages and rebalances:

1. A range is cut per partition by size, bytes, age, or where the Kafka timestamp's hour changes
   (a range lives in exactly one ``dt=/hour=`` folder).
2. Before uploading, the range is recorded as an *intent* object in S3 (``_intents/...``).
3. The Parquet object's key is derived from the range alone, then offsets are committed, then the
   intent is deleted.
4. A new owner of the partition lists intents at or after the committed offset and cuts exactly
   those ranges again: a re-upload rewrites the same key with the same rows, never a second,
   differently cut copy. Offsets are only committed after the upload succeeded, so a failing S3
   only grows lag (``pulse_archive_lag_messages``); nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from pulse.archive import metrics
from pulse.archive.layout import ArchiveObject, hour_of
from pulse.archive.parquet import Message, encode
from pulse.archive.store import ArchiveStore
from pulse.settings import Settings
from pulse.worker.health import Health
from pulse.worker.kafka_consumer import partition_consumer
from pulse.worker.resilience import report_lag_forever, retry_forever

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class RangeBatch:
    """Consecutive messages of one partition, all in one hour of Kafka time."""

    topic: str
    partition: int
    hour_ms: int  # start of the hour (epoch ms)
    must_end_at: int | None = None
    rebuild: bool = False
    messages: list[Message] = field(default_factory=list)
    size_bytes: int = 0
    opened_at: float = field(default_factory=time.monotonic)

    @property
    def last(self) -> int:
        return self.messages[-1].offset if self.messages else -1

    def accepts(self, offset: int, timestamp_ms: int) -> bool:
        if self.must_end_at is not None and offset > self.must_end_at:
            return False
        # A rebuild keeps its recorded hour whatever the timestamps say (they cannot differ).
        return self.rebuild or timestamp_ms // 3_600_000 * 3_600_000 == self.hour_ms

    def add(self, message: Message) -> None:
        if not self.messages:
            self.opened_at = time.monotonic()
        self.messages.append(message)
        self.size_bytes += len(message.value or b"")

    def is_ready(self, max_rows: int, max_bytes: int, max_age_s: float, now: float) -> bool:
        if not self.messages:
            return False
        if self.must_end_at is not None and self.last >= self.must_end_at:
            return True
        if self.rebuild:
            return False
        return len(self.messages) >= max_rows or self.size_bytes >= max_bytes or now - self.opened_at >= max_age_s

    def object(self) -> ArchiveObject:
        return ArchiveObject(self.topic, hour_of(self.hour_ms), self.partition, self.messages[0].offset, self.last)


class _Recovery(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, archiver: Archiver) -> None:
        self.archiver = archiver

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.archiver.forget(tp)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        partitions = list(assigned)
        self.archiver.recovering.update(partitions)
        self.archiver.consumer.pause(*partitions)
        await self.archiver.recover(partitions)


class Archiver:
    """Consumes raw topics and uploads exactly-once Parquet ranges until ``stop()``."""

    def __init__(self, settings: Settings, store: ArchiveStore, topics: list[str], health: Health) -> None:
        self.settings = settings
        self.store = store
        self.topics = topics
        self.health = health
        self.batches: dict[TopicPartition, RangeBatch] = {}
        self.planned: dict[TopicPartition, deque[ArchiveObject]] = {}
        #: Next offset to archive per partition (what lag is measured from).
        self.next_offset: dict[TopicPartition, int] = {}
        self.recovering: set[TopicPartition] = set()
        self._stopping = asyncio.Event()
        self.consumer = partition_consumer(
            settings.kafka,
            group_id=settings.archive.group_id,
            role="archiver",
            # An S3 outage holds the loop in its retries; stay in the group meanwhile.
            max_poll_interval_ms=30 * 60 * 1000,
        )

    def stop(self) -> None:
        self._stopping.set()

    def forget(self, tp: TopicPartition) -> None:
        """Not uploaded, not committed: the next owner re-reads (and re-plans) these messages."""
        self.batches.pop(tp, None)
        self.planned.pop(tp, None)
        self.next_offset.pop(tp, None)
        self.recovering.discard(tp)
        with contextlib.suppress(KeyError):
            metrics.LAG.remove(tp.topic, str(tp.partition))

    async def _retrying(self, operation: str, call: Callable[..., T], *args: object) -> T:
        """Run a blocking S3 call until it succeeds: backoff, metrics, health, never give up."""

        def failed(error: Exception, delay: float) -> None:
            metrics.ERRORS.labels(operation).inc()
            self.health.failing("s3", f"{operation}: {error}")
            log.warning(
                "s3 request failed, retrying",
                extra={"operation": operation, "error": str(error)[:300], "delay_s": delay},
            )
            self.health.beat()

        return await retry_forever(
            lambda: asyncio.to_thread(call, *args),
            delays=RETRY_DELAYS_S,
            on_error=failed,
            on_success=lambda: self.health.recovered("s3"),
        )

    async def recover(self, assigned: list[TopicPartition]) -> None:
        """Re-plan the ranges recorded as intents since each partition's committed offset."""
        committed = {tp: await self.consumer.committed(tp) or 0 for tp in assigned}
        # Lag counts from the commit right away: an S3 outage during recovery must show in metrics.
        self.next_offset.update(committed)
        planned = {
            tp: await self._retrying("list_intents", self.store.intents, tp.topic, tp.partition, committed[tp])
            for tp in assigned
        }
        still_assigned = self.consumer.assignment()
        for tp in assigned:
            if tp not in still_assigned:
                continue
            ranges = planned[tp]
            self.batches.pop(tp, None)
            self.planned[tp] = deque(ranges)
            self.next_offset[tp] = committed[tp]
            if committed[tp]:
                self.consumer.seek(tp, committed[tp])
            else:
                await self.consumer.seek_to_beginning(tp)
            self.recovering.discard(tp)
            if ranges:
                log.info(
                    "re-uploading planned ranges",
                    extra={"topic": tp.topic, "partition": tp.partition, "ranges": len(ranges)},
                )
        self.consumer.resume(*(tp for tp in assigned if tp in still_assigned))

    def _new_batch(self, tp: TopicPartition, offset: int, timestamp_ms: int) -> RangeBatch:
        planned = self.planned.get(tp)
        while planned and planned[0].last < offset:
            planned.popleft()
        if planned and planned[0].first <= offset:
            intent = planned.popleft()
            hour_ms = int(intent.hour.timestamp() * 1000)
            return RangeBatch(tp.topic, tp.partition, hour_ms, must_end_at=intent.last, rebuild=True)
        boundary = planned[0].first - 1 if planned else None
        return RangeBatch(tp.topic, tp.partition, timestamp_ms // 3_600_000 * 3_600_000, must_end_at=boundary)

    async def run(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Recovery(self))
        await self.consumer.start()
        lag_task = asyncio.create_task(self._report_lag_forever())
        try:
            while not self._stopping.is_set():
                self.health.beat()
                records = await self.consumer.getmany(timeout_ms=100, max_records=self.settings.archive.max_batch_rows)
                for tp, messages in records.items():
                    await self._accept(tp, messages)
                await self._flush(only_ready=True)
            await self._flush(only_ready=False)
        finally:
            lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag_task
            await self.consumer.stop()

    async def _accept(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Add one partition's fetched records to its range, writing a range where it must end.

        Ownership is checked again only after an ``await``: a rebalance can only happen there.
        """
        if tp in self.recovering or tp not in self.consumer.assignment():
            return
        batch = self.batches.get(tp)
        for record in records:
            offset, timestamp = record.offset, record.timestamp
            if batch is not None and not batch.accepts(offset, timestamp):
                await self._write(tp, batch)
                if tp in self.recovering or tp not in self.consumer.assignment():
                    return
                batch = None
            if batch is None:
                batch = self.batches[tp] = self._new_batch(tp, offset, timestamp)
            batch.add(Message(offset, timestamp, record.value))

    async def _flush(self, *, only_ready: bool) -> None:
        cfg = self.settings.archive
        now = time.monotonic()
        due: list[tuple[TopicPartition, RangeBatch]] = []
        for tp, batch in list(self.batches.items()):
            if not batch.messages:
                continue
            if only_ready and not batch.is_ready(
                cfg.max_batch_rows, cfg.max_batch_bytes, cfg.max_batch_age_ms / 1000, now
            ):
                continue
            if not only_ready and batch.rebuild and batch.last < (batch.must_end_at or 0):
                continue  # an incomplete rebuild must not be cut short: leave it uncommitted
            due.append((tp, batch))
        await self._write_all(due)

    async def _write_all(self, due: list[tuple[TopicPartition, RangeBatch]]) -> None:
        """Write different partitions' ranges side by side (at most one per partition, so each
        partition's commits stay in order): Arrow's decoder and the Parquet writer release the GIL,
        and a range's S3 round trips overlap another range's encoding."""
        limit = asyncio.Semaphore(max(1, self.settings.archive.max_concurrent_writes))

        async def write(tp: TopicPartition, batch: RangeBatch) -> None:
            async with limit:
                await self._write(tp, batch)

        await asyncio.gather(*(write(tp, batch) for tp, batch in due))

    async def _write(self, tp: TopicPartition, batch: RangeBatch) -> None:
        """Intent, encode, upload (retrying until S3 takes it), commit, forget the intent."""
        obj = batch.object()
        started = time.perf_counter()
        if not batch.rebuild:
            await self._retrying("put_intent", self.store.record_intent, obj)
        table, body = await asyncio.to_thread(encode, tp.topic, tp.partition, batch.messages)
        await self._retrying("put_object", self.store.put_archive, obj, body)
        metrics.UPLOAD_SECONDS.observe(time.perf_counter() - started)
        try:
            await self.consumer.commit({tp: obj.last + 1})
        except KafkaError as error:
            # Lost the partition: its next owner finds the intent and rewrites this same object.
            log.warning(
                "offset commit failed; the range will be re-uploaded", extra={"error": str(error), "first": obj.first}
            )
        else:
            try:
                await asyncio.to_thread(self.store.forget_intent, obj)
            except Exception as error:  # harmless: an intent below the commit is never re-planned
                metrics.ERRORS.labels("delete_intent").inc()
                log.warning("could not delete an intent", extra={"error": str(error)[:300]})
        valid = table.column("raw_message").null_count
        metrics.EVENTS.labels(tp.topic).inc(len(batch.messages))
        metrics.REJECTED.labels(tp.topic).inc(table.num_rows - valid)
        metrics.FILES.labels(tp.topic, "rebuild" if batch.rebuild else "new").inc()
        metrics.BYTES.labels(tp.topic).inc(len(body))
        if tp in self.next_offset:
            self.next_offset[tp] = obj.last + 1
        if self.batches.get(tp) is batch:
            del self.batches[tp]

    async def _report_lag_forever(self) -> None:
        """Lag from the brokers' end offsets, so it keeps growing while the loop waits on S3."""
        await report_lag_forever(self.consumer, lambda: self.next_offset, metrics.LAG)
