"""The loader's sink: offset ranges into the warehouse, exactly once, one insert per range or per flush.

Per range (the default, ``PULSE_LOADER__GROUP_PARTITIONS=false``): each partition's range is recorded
as an intent, then inserted under its own token; a rebuild re-inserts the same range under the same
token, which ``events`` drops and each view below completes if it missed it.

Per flush (``PULSE_LOADER__GROUP_PARTITIONS=true``), described below.

A flush (``pulse.worker.offset_ranges``: when one partition's batch is due by size or age, every
batch is cut) first appends each new range to ``loader_batches`` (the intents, one insert), then
inserts the rows of all its batches -- every topic that feeds ``events``, every partition -- as one
block into ``events`` (and one into ``rejected_events``, one into ``loader_dead_letters``) under
``insert_deduplication_token`` = the flush's token (a digest of its ranges; a single range keeps the
range's own token, as before flushes were grouped). So the ~20 materialized views below ``events``
run once per flush instead of once per partition and topic, and the warehouse writes a part per
flush instead of one per range.

Why every message is still stored exactly once. Each row carries its Kafka coordinates (topic,
partition, offset), and every row of a block is in the table once that block's insert returned.
- Retry of a write that failed (timeout, warehouse down): the same block goes again under the same
  token, so a first attempt that did land (or still lands) is dropped by ``events``, and each view
  below writes the block unless it already has it (``deduplicate_blocks_in_dependent_materialized_views``):
  a warehouse that died halfway through the views is completed, as with the per-range tokens.
- kill -9 between insert and commit: the offsets stay uncommitted, and the ranges were recorded as
  intents before the insert. Whoever owns a partition next -- this loader restarted, or after a
  rebalance a loader owning only some of the flush's partitions -- cuts those ranges again
  (``rebuild``) and inserts only the offsets of them the warehouse does not hold yet
  (``stored_offsets``, read from the lineage columns of the three tables), once every loader insert
  the warehouse is still executing has ended (``wait_for_inserts_in_flight``: rows of ``events`` are
  visible before its views are written, so only then does a commit still mean the rollups hold the
  rows too). Nothing depends on owning all of the old flush's partitions or on reproducing its
  token: each partition is repaired from its own rows. A range never inserted is inserted whole; one
  that was is skipped. (Not covered, unlike with per-range tokens: the warehouse itself dying inside
  the views of that very insert *and* the loader dying before its retry -- the rows are in ``events``,
  so the rebuild skips them, and the views that had not run miss them.)
  ``system.processes`` is per server: on a cluster, the loader's inserts must go to one node.
- Rebalance with a write in flight: the revoking loader holds the group's rebalance until its write
  attempt returned and starts no attempt for a revoked partition (``Assignments``,
  ``OffsetRangeWorker.settle``), so the next owner's ``stored_offsets`` sees everything the previous
  owner will ever write of that partition. (A loader frozen longer than the session timeout, which
  Kafka cannot fence from the warehouse, is the one case outside this: the previous per-range tokens
  did not cover its later ranges either.)
- Redelivery (a new consumer group, an offset reset): every offset since the committed one lies in a
  recorded intent, so it is rebuilt and finds its rows stored: nothing is inserted again.
- A client's retry (same messageId at a later offset) is dropped by ``RecentIds``, as before.
The check reads a partition's offsets inside the rebuilt ranges only; a rebuild happens after a crash
(one flush) or a replay, never on the steady path, which inserts without reading.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from clickhouse_connect.driver.client import Client

from pulse.contracts.events import Family
from pulse.loader import metrics
from pulse.loader.batching import DeadLetter, Intent, OffsetRange, PartitionBatch
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

#: The ``log_comment`` of the loader's data inserts: what ``wait_for_inserts_in_flight`` looks for.
LOADER_INSERT = "pulse-loader"

_LOADER_INSERTS = """
SELECT query_id FROM system.processes
WHERE query_kind = 'Insert' AND Settings['log_comment'] = {comment:String}
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
        #: Whether the worker hands over every batch of a flush at once (``write_all``).
        self.groups_partitions = settings.loader.group_partitions
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
        """One range alone, under its own token: a rebuild re-inserts it whole and the warehouse drops
        it (``events``) or completes it (the views that missed it) -- the per-range mode."""
        self._insert([batch], skip_stored=False)

    def write_all(self, batches: Sequence[PartitionBatch]) -> None:
        """Record the new ranges as intents (one insert), then insert every batch's rows together: one
        insert per target table under the flush's token. Rebuilt ranges first drop the offsets the
        warehouse already holds (once no loader insert is still running)."""
        self._insert(batches, skip_stored=True)

    def _insert(self, batches: Sequence[PartitionBatch], *, skip_stored: bool) -> None:
        new = [batch.offsets for batch in batches if not batch.rebuild]
        client = self._clients.client
        if new:
            client.insert(
                INTENTS_TABLE,
                [[r.topic, r.partition, r.first, r.last, r.token] for r in new],
                column_names=["topic", "partition", "first_offset", "last_offset", "token"],
            )
        checked = [batch for batch in batches if batch.rebuild and skip_stored]
        stored: dict[tuple[str, int], set[int]] = {}
        if checked:
            self.wait_for_inserts_in_flight()
            stored = self.stored_offsets([batch.offsets for batch in checked])
        events: list[bytes] = []
        rejected: list[bytes] = []
        dead: list[bytes] = []
        for batch in batches:
            skip = stored.get((batch.topic, batch.partition), set())
            (rejected if batch.rejected else events).extend(batch.rows_except(skip))
            dead.extend(_dead_letter_rows(batch, batch.dead_letters_except(skip)))
        settings = {
            "insert_deduplication_token": flush_token([batch.offsets for batch in batches]),
            "log_comment": LOADER_INSERT,
        }
        if rejected:
            # failed_at is ISO-8601 with an offset, as the collector writes it
            rejected_settings = {**settings, "date_time_input_format": "best_effort"}
            client.raw_insert(REJECTED_TABLE, None, b"\n".join(rejected), settings=rejected_settings, fmt="JSONEachRow")
        if events:
            client.raw_insert(EVENTS_TABLE, None, b"\n".join(events), settings=settings, fmt="JSONEachRow")
        if dead:
            client.raw_insert(DEAD_LETTERS_TABLE, None, b"\n".join(dead), settings=settings, fmt="JSONEachRow")

    def wait_for_inserts_in_flight(self, poll_s: float = 0.1) -> None:
        """Return once every loader insert the warehouse is executing now has finished.

        Rows of ``events`` are visible before the views below it have written theirs, and an insert
        sent by a loader that died meanwhile still runs to its end. Skipping its rows before it ended
        would commit offsets whose rollups are not written yet (and a failed end would lose them).
        """
        running = self._loader_inserts()
        while running:
            time.sleep(poll_s)
            running &= self._loader_inserts()

    def _loader_inserts(self) -> set[str]:
        rows = self._clients.client.query(_LOADER_INSERTS, parameters={"comment": LOADER_INSERT}).result_rows
        return {str(row[0]) for row in rows}

    def stored_offsets(self, ranges: Sequence[OffsetRange]) -> dict[tuple[str, int], set[int]]:
        """The offsets of ``ranges`` the warehouse already holds, in any of the loader's tables."""
        parameters: dict[str, object] = {}
        for n, r in enumerate(ranges):
            parameters |= {f"t{n}": r.topic, f"p{n}": r.partition, f"first{n}": r.first, f"last{n}": r.last}
        stored: dict[tuple[str, int], set[int]] = {}
        for table, (topic, partition, offset) in _LINEAGE.items():
            where = " OR ".join(
                f"({topic} = {{t{n}:String}} AND {partition} = {{p{n}:UInt16}}"
                f" AND {offset} BETWEEN {{first{n}:UInt64}} AND {{last{n}:UInt64}})"
                for n in range(len(ranges))
            )
            query = f"SELECT {topic}, {partition}, {offset} FROM {table} WHERE {where}"
            for t, p, o in self._clients.client.query(query, parameters=parameters).result_rows:
                stored.setdefault((str(t), int(p)), set()).add(int(o))
        return stored


#: Each table the loader writes, with its (topic, partition, offset) lineage columns.
_LINEAGE = {
    EVENTS_TABLE: ("kafka_topic", "kafka_partition", "kafka_offset"),
    REJECTED_TABLE: ("kafka_topic", "kafka_partition", "kafka_offset"),
    DEAD_LETTERS_TABLE: ("topic", "partition", "offset"),
}


def flush_token(ranges: Sequence[OffsetRange]) -> str:
    """The deduplication token of one flush: its range's own token when it holds one range (as every
    insert before flushes were grouped), else a digest of its ranges' tokens."""
    tokens = sorted(r.token for r in ranges)
    if len(tokens) == 1:
        return tokens[0]
    return "flush/" + hashlib.sha256("\n".join(tokens).encode()).hexdigest()


def _dead_letter_rows(batch: PartitionBatch, dead_letters: Sequence[DeadLetter]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "topic": batch.topic,
                "partition": batch.partition,
                "offset": dead.offset,
                "raw_message": dead.raw_message.decode("utf-8", errors="replace"),
                "error": dead.error,
            }
        )
        for dead in dead_letters
    ]
