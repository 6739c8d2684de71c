"""The archiver's offset-range sink: raw topics -> Parquet objects in S3, exactly once.

Exactly once in the archive, under crashes, S3 outages and rebalances (the Kafka side, commits and
retries are the worker's, ``pulse.worker.offset_ranges``):

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

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import pyarrow as pa
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from pulse.archive import metrics
from pulse.archive.layout import ArchiveObject, hour_of
from pulse.archive.parquet import Message, encode
from pulse.archive.store import ArchiveStore
from pulse.settings import ArchiveSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    #: The Parquet table and file, encoded once: an upload retried after an S3 failure reuses them.
    encoded: tuple[pa.Table, bytes] | None = None

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


class S3Failed(Exception):
    """An S3 request that failed, named by its operation (``pulse_archive_errors_total{operation}``)."""

    def __init__(self, operation: str, error: Exception) -> None:
        super().__init__(f"{operation}: {error}")
        self.operation = operation


def _s3(operation: str, call: Callable[..., T], *args: object) -> T:
    try:
        return call(*args)
    except Exception as error:
        raise S3Failed(operation, error) from error


class ArchiveSink:
    """An ``OffsetRangeSink`` of Parquet objects in the archive bucket (blocking boto3 calls)."""

    dependency = "s3"

    def __init__(self, settings: ArchiveSettings, store: ArchiveStore) -> None:
        self.settings = settings
        self.store = store

    def planned_ranges(self, committed: Mapping[TopicPartition, int]) -> dict[TopicPartition, list[ArchiveObject]]:
        """The intents recorded since each partition's committed offset."""
        return {
            tp: _s3("list_intents", self.store.intents, tp.topic, tp.partition, offset)
            for tp, offset in committed.items()
        }

    def forget(self, tp: TopicPartition) -> None:
        return  # nothing is remembered per partition beyond the worker's plans

    def new_batch(
        self,
        tp: TopicPartition,
        record: ConsumerRecord[bytes, bytes],
        plan: ArchiveObject | None,
        must_end_at: int | None,
    ) -> RangeBatch:
        if plan is not None:
            hour_ms = int(plan.hour.timestamp() * 1000)
            return RangeBatch(tp.topic, tp.partition, hour_ms, must_end_at=must_end_at, rebuild=True)
        hour_ms = record.timestamp // 3_600_000 * 3_600_000
        return RangeBatch(tp.topic, tp.partition, hour_ms, must_end_at=must_end_at)

    def add(self, batch: RangeBatch, record: ConsumerRecord[bytes, bytes]) -> bool:
        if not batch.accepts(record.offset, record.timestamp):
            return False
        batch.add(Message(record.offset, record.timestamp, record.value))
        return True

    def ready(self, batch: RangeBatch, now: float) -> bool:
        cfg = self.settings
        return batch.is_ready(cfg.max_batch_rows, cfg.max_batch_bytes, cfg.max_batch_age_ms / 1000, now)

    def write(self, batch: RangeBatch) -> None:
        """Intent, encode (once), upload under the key the range names."""
        obj = batch.object()
        if not batch.rebuild:
            _s3("put_intent", self.store.record_intent, obj)  # the same empty object again on a retry
        if batch.encoded is None:
            batch.encoded = encode(batch.topic, batch.partition, batch.messages)
        _s3("put_object", self.store.put_archive, obj, batch.encoded[1])

    def written(self, batch: RangeBatch, *, committed: bool, seconds: float) -> None:
        """Forget the intent once committed (an intent below the commit is never re-planned, so a
        failed delete is harmless), and count the upload."""
        if committed:
            try:
                self.store.forget_intent(batch.object())
            except Exception as error:
                metrics.ERRORS.labels("delete_intent").inc()
                log.warning("could not delete an intent", extra={"error": str(error)[:300]})
        assert batch.encoded is not None, "written before it was encoded"
        table, body = batch.encoded
        metrics.UPLOAD_SECONDS.observe(seconds)
        metrics.EVENTS.labels(batch.topic).inc(len(batch.messages))
        metrics.REJECTED.labels(batch.topic).inc(table.num_rows - table.column("raw_message").null_count)
        metrics.FILES.labels(batch.topic, "rebuild" if batch.rebuild else "new").inc()
        metrics.BYTES.labels(batch.topic).inc(len(body))

    def failed(self, operation: str, error: Exception, batch: RangeBatch | None) -> None:
        metrics.ERRORS.labels(error.operation if isinstance(error, S3Failed) else operation).inc()
