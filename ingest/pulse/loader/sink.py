"""The loader's offset-range sink: batches into the warehouse, intents and tokens making them exactly-once.

Before inserting a range the loader appends it to ``loader_batches`` (the intent), then inserts its
rows under ``insert_deduplication_token`` = the range's token, so the re-insert of a range (after a
crash between insert and commit, or a replay by a new consumer group) is dropped by the warehouse.
Kafka, commits and retries are the worker's (``pulse.worker.offset_ranges``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from clickhouse_connect.driver.client import Client

from pulse.contracts.events import Family
from pulse.loader import metrics
from pulse.loader.batching import Intent, PartitionBatch
from pulse.settings import Settings
from pulse.warehouse.client import ClientPerThread
from pulse.worker.client_retries import RecentIds

EVENTS_TABLE = "events"
INTENTS_TABLE = "loader_batches"
DEAD_LETTERS_TABLE = "loader_dead_letters"
REJECTED_TABLE = "rejected_events"

_PLANNED_RANGES = """
SELECT DISTINCT partition, first_offset, last_offset
FROM loader_batches
WHERE topic = {topic:String}
  AND has({partitions:Array(UInt16)}, partition)
  AND last_offset >= {committed:Array(UInt64)}[indexOf({partitions:Array(UInt16)}, partition)]
ORDER BY partition, first_offset
"""

_RECENT_IDS = """
SELECT message_id
FROM events
WHERE stored_at >= now64(3) - toIntervalSecond({window_s:UInt32})
  AND kafka_topic = {topic:String} AND kafka_partition = {partition:UInt16}
ORDER BY stored_at DESC, kafka_offset DESC
LIMIT {limit:UInt32}
"""


class WarehouseSink:
    """An ``OffsetRangeSink`` through clickhouse-connect (blocking; the worker calls it from threads).

    It also keeps each partition's recent messageIds, rebuilt from the warehouse on assignment, so a
    client's retry (same messageId, later offset) is dropped (``pulse.worker.client_retries``); and it
    routes the collector's dead-letter topic to ``rejected_events``.
    """

    dependency = "warehouse"

    def __init__(self, settings: Settings, connect: Callable[[], Client]) -> None:
        self.settings = settings.loader
        self.rejected_topic = settings.kafka.topic(Family.DEAD_LETTER)
        self.recent_ids: dict[TopicPartition, RecentIds] = {}
        self._clients = ClientPerThread(connect)

    def planned_ranges(self, committed: Mapping[TopicPartition, int]) -> dict[TopicPartition, list[Intent]]:
        """The intents at or after each partition's committed offset; also rebuilds its recent messageIds.

        Normally at most one range (a crash between insert and commit); after an offset reset, every
        range since, so a replay cuts the same blocks and deduplication drops them.
        """
        by_topic: dict[str, dict[int, int]] = {}
        for tp, offset in committed.items():
            by_topic.setdefault(tp.topic, {})[tp.partition] = offset
        planned = {
            TopicPartition(topic, partition): ranges
            for topic, offsets in by_topic.items()
            for partition, ranges in self.topic_ranges(topic, offsets).items()
        }
        cfg = self.settings
        recent = {
            tp: RecentIds(
                cfg.dedup_max_ids,
                self.recent_message_ids(tp.topic, tp.partition, cfg.dedup_window_s, cfg.dedup_max_ids),
            )
            for tp in committed
        }
        self.recent_ids.update(recent)  # only once every read succeeded: a retry starts over
        return planned

    def forget(self, tp: TopicPartition) -> None:
        self.recent_ids.pop(tp, None)

    def new_batch(
        self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes], plan: Intent | None, must_end_at: int | None
    ) -> PartitionBatch:
        rejected = tp.topic == self.rejected_topic
        return PartitionBatch(
            tp.topic, tp.partition, must_end_at=must_end_at, rebuild=plan is not None, rejected=rejected
        )

    def add(self, batch: PartitionBatch, record: ConsumerRecord[bytes, bytes]) -> bool:
        if not batch.accepts(record.offset):
            return False
        recent = None if batch.rejected else self.recent_ids.get(TopicPartition(batch.topic, batch.partition))
        batch.add(record.offset, record.value, recent.seen if recent is not None else None)
        return True

    def ready(self, batch: PartitionBatch, now: float) -> bool:
        return batch.is_ready(self.settings.max_batch_rows, self.settings.max_batch_age_ms / 1000, now)

    def written(self, batch: PartitionBatch, *, committed: bool, seconds: float) -> None:
        metrics.INSERT_SECONDS.observe(seconds)
        metrics.ROWS.labels(batch.topic).inc(len(batch.rows))
        metrics.DEAD_LETTERS.labels(batch.topic).inc(len(batch.dead_letters))
        metrics.DUPLICATES.labels(batch.topic).inc(batch.duplicates)
        metrics.BATCHES.labels(batch.topic, "rebuild" if batch.rebuild else "new").inc()

    def failed(self, operation: str, error: Exception, batch: PartitionBatch | None) -> None:
        metrics.WRITE_ERRORS.labels(batch.topic if batch is not None else operation).inc()

    def topic_ranges(self, topic: str, committed: dict[int, int]) -> dict[int, list[Intent]]:
        """Ranges planned at or after each partition's committed offset, in offset order."""
        partitions = sorted(committed)
        parameters = {"topic": topic, "partitions": partitions, "committed": [committed[p] for p in partitions]}
        result = self._clients.client.query(_PLANNED_RANGES, parameters=parameters)
        ranges: dict[int, list[Intent]] = {}
        for partition, first, last in result.result_rows:
            ranges.setdefault(int(partition), []).append(Intent(int(first), int(last)))
        return ranges

    def recent_message_ids(self, topic: str, partition: int, window_s: int, limit: int) -> list[str]:
        """The partition's messageIds stored in the last ``window_s`` seconds, oldest first."""
        parameters = {"topic": topic, "partition": partition, "window_s": window_s, "limit": limit}
        rows = self._clients.client.query(_RECENT_IDS, parameters=parameters).result_rows
        return [str(row[0]) for row in reversed(rows)]

    def write(self, batch: PartitionBatch) -> None:
        """Record the intent (unless rebuilding one), then insert rows and dead letters under its token."""
        offsets = batch.offsets
        if not batch.rebuild:
            self._clients.client.insert(
                INTENTS_TABLE,
                [[offsets.topic, offsets.partition, offsets.first, offsets.last, offsets.token]],
                column_names=["topic", "partition", "first_offset", "last_offset", "token"],
            )
        settings = {"insert_deduplication_token": offsets.token}
        if batch.rows and batch.rejected:
            # failed_at is ISO-8601 with an offset, as the collector writes it
            rejected_settings = {**settings, "date_time_input_format": "best_effort"}
            self._clients.client.raw_insert(
                REJECTED_TABLE, None, batch.json_each_row(), settings=rejected_settings, fmt="JSONEachRow"
            )
        elif batch.rows:
            rows = batch.json_each_row()
            self._clients.client.raw_insert(EVENTS_TABLE, None, rows, settings=settings, fmt="JSONEachRow")
        if batch.dead_letters:
            lines = b"\n".join(
                orjson.dumps(
                    {
                        "topic": offsets.topic,
                        "partition": offsets.partition,
                        "offset": dead.offset,
                        "raw_message": dead.raw_message.decode("utf-8", errors="replace"),
                        "error": dead.error,
                    }
                )
                for dead in batch.dead_letters
            )
            self._clients.client.raw_insert(DEAD_LETTERS_TABLE, None, lines, settings=settings, fmt="JSONEachRow")
