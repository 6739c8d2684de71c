"""The loader's sink: offset ranges into the warehouse, exactly once, one insert per flush.

A flush (``pulse.worker.offset_ranges``: when one partition's batch is due by size or age, every
batch is cut) first appends each new range to ``loader_batches`` with the flush's token (the
intents, one insert), then inserts the rows of all its batches -- every topic that feeds ``events``,
every partition -- as one block into ``events`` (and one into ``rejected_events``, one into
``loader_dead_letters``) under ``insert_deduplication_token`` = that token (a digest of its ranges;
a single range's is the range's own, ``topic/partition/first-last``). So the ~30 materialized views
below ``events`` run once per flush instead of once per partition and topic, and the warehouse
writes a part per flush instead of one per range. ``PULSE_LOADER__GROUP_PARTITIONS=false`` makes
every flush one range (one insert per partition's range, as before flushes were grouped).

Why every message is still stored exactly once. Each row carries its Kafka coordinates (topic,
partition, offset), and every row of a block is in the table once that block's insert returned.
- Retry of a write that failed (timeout, warehouse down): the same block goes again under the same
  token -- a retry keeps its first attempt's token even when a revocation took some of its batches
  away -- so a first attempt that did land (or still lands) is dropped by ``events``, and each view
  below writes the block unless it already has it (``deduplicate_blocks_in_dependent_materialized_views``):
  a warehouse that died halfway through the views is completed.
- kill -9 between insert and commit -- of the loader, or of the warehouse inside the views and then
  of the loader before its retry: the offsets stay uncommitted, and the ranges were recorded, with
  their flush's token, before the insert. Whoever owns the partitions next cuts those ranges again
  (``rebuild``); the worker hands over the rebuilt ranges of one recorded flush together. When they
  are that whole flush, recorded within ``repeat_flush_within_s``, the sink repeats the insert under
  its token: the retry the dead loader did not make, with the same effect (``events`` drops what
  it holds, each view completes what it missed).
- Otherwise -- a rebalance gave the flush's partitions to several owners, or the flush is older than
  the deduplication window may still remember, or it was recorded before tokens were -- nobody can
  repeat that insert, and each owner inserts only the offsets the warehouse does not hold yet
  (``stored_offsets``, read from the lineage columns of the three tables), once every loader insert
  the warehouse is still executing has ended (``wait_for_inserts_in_flight``: rows of ``events`` are
  visible before its views are written, so only then does a commit still mean the rollups hold the
  rows too). A range never inserted is inserted whole; one that was is skipped. Not covered: the
  warehouse dying inside the views of an insert, its loader dying before the retry, *and* a
  rebalance splitting the flush's partitions before anyone rebuilt it (the views that had not run
  miss its rows). ``system.processes`` is per server: on a cluster, the loader's inserts must go to
  one node.
- Rebalance with a write in flight: the revoking loader holds the group's rebalance until its write
  attempt returned and starts no attempt for a revoked partition (``Assignments``,
  ``OffsetRangeWorker.settle``), so the next owner's ``stored_offsets`` sees everything the previous
  owner will ever write of that partition. (A loader frozen longer than the session timeout, which
  Kafka cannot fence from the warehouse, is the one case outside this.)
- Redelivery (a new consumer group, an offset reset): every offset since the committed one lies in a
  recorded intent, so it is rebuilt and is dropped as a repeated insert or found stored: nothing is
  inserted again. (Every flush but the last of a partition was written before the next one was cut,
  views included, so checking its offsets is exact.)
- A client's retry (same messageId at a later offset) is dropped by ``RecentIds``, as before.
The check reads a partition's offsets inside the rebuilt ranges only; a rebuild happens after a crash
(one flush) or a replay, never on the steady path, which inserts without reading.
"""

from __future__ import annotations

import hashlib
import logging
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

log = logging.getLogger(__name__)

EVENTS_TABLE = "events"
INTENTS_TABLE = "loader_batches"
DEAD_LETTERS_TABLE = "loader_dead_letters"
REJECTED_TABLE = "rejected_events"

_PLANNED_RANGES = """
SELECT partition, first_offset, last_offset,
       max(flush) AS flush,
       max(planned_at) >= now64(3) - toIntervalSecond({repeat_within_s:UInt32}) AS repeatable
FROM loader_batches
WHERE topic = {topic:String}
  AND has({partitions:Array(UInt16)}, partition)
  AND last_offset >= {committed:Array(UInt64)}[indexOf({partitions:Array(UInt16)}, partition)]
GROUP BY partition, first_offset, last_offset
ORDER BY partition, first_offset
"""

#: Every range recorded under one of the given flush tokens (a flush's whole membership).
_FLUSH_RANGES = """
SELECT DISTINCT flush, topic, partition, first_offset, last_offset
FROM loader_batches
WHERE has({flushes:Array(String)}, flush)
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
  AND kafka_offset < {before:UInt64}
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
        #: The ranges of each recorded flush a rebuild may repeat whole (``planned_ranges``).
        self.flushes: dict[str, frozenset[OffsetRange]] = {}
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
        flushes = self.flush_ranges({plan.flush for ranges in planned.values() for plan in ranges if plan.flush})
        cfg = self.settings
        recent = {
            tp: RecentIds(
                cfg.dedup_max_ids,
                self.recent_message_ids(tp.topic, tp.partition, offset, cfg.dedup_window_s, cfg.dedup_max_ids),
            )
            for tp, offset in committed.items()
        }
        self.recent_ids.update(recent)  # only once every read succeeded: a retry starts over
        self.flushes.update(flushes)
        return planned

    def forget(self, tp: TopicPartition) -> None:
        self.recent_ids.pop(tp, None)

    def new_batch(
        self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes], plan: Intent | None, must_end_at: int | None
    ) -> PartitionBatch:
        rejected = tp.topic == self.rejected_topic
        return PartitionBatch(
            tp.topic,
            tp.partition,
            must_end_at=must_end_at,
            rebuild=plan is not None,
            rejected=rejected,
            flush=plan.flush if plan is not None else "",
        )

    def rebuild_group(self, plan: Intent) -> str:
        """The recorded flush whose ranges are to be rebuilt together ('' if it is not repeated whole)."""
        return plan.flush

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
        """Ranges planned at or after each partition's committed offset, in offset order; a range
        carries its flush's token only when that flush may be repeated (recorded recently enough)."""
        partitions = sorted(committed)
        parameters = {
            "topic": topic,
            "partitions": partitions,
            "committed": [committed[p] for p in partitions],
            "repeat_within_s": self.settings.repeat_flush_within_s,
        }
        result = self._clients.client.query(_PLANNED_RANGES, parameters=parameters)
        ranges: dict[int, list[Intent]] = {}
        for partition, first, last, flush, repeatable in result.result_rows:
            intent = Intent(int(first), int(last), str(flush) if repeatable else "")
            ranges.setdefault(int(partition), []).append(intent)
        return ranges

    def flush_ranges(self, flushes: set[str]) -> dict[str, frozenset[OffsetRange]]:
        """Every range recorded under each of ``flushes``."""
        if not flushes:
            return {}
        rows = self._clients.client.query(_FLUSH_RANGES, parameters={"flushes": sorted(flushes)}).result_rows
        members: dict[str, set[OffsetRange]] = {}
        for flush, topic, partition, first, last in rows:
            members.setdefault(str(flush), set()).add(OffsetRange(str(topic), int(partition), int(first), int(last)))
        return {flush: frozenset(ranges) for flush, ranges in members.items()}

    def recent_message_ids(self, topic: str, partition: int, before: int, window_s: int, limit: int) -> list[str]:
        """The partition's messageIds stored in the last ``window_s`` seconds below offset ``before``
        (the committed one), oldest first. Not the rows of the ranges about to be rebuilt: a rebuild
        must decide as the first cut did, or it would drop a stored range's rows as client retries
        of themselves and never complete the views that missed them."""
        parameters = {"topic": topic, "partition": partition, "before": before, "window_s": window_s, "limit": limit}
        rows = self._clients.client.query(_RECENT_IDS, parameters=parameters).result_rows
        return [str(row[0]) for row in reversed(rows)]

    def write(self, batch: PartitionBatch) -> None:
        """One range alone: a flush of one range (``PULSE_LOADER__GROUP_PARTITIONS=false``)."""
        self.write_all([batch])

    def write_all(self, batches: Sequence[PartitionBatch]) -> None:
        """Rebuilt ranges first, one recorded flush at a time (repeated whole, or only what the
        warehouse lacks); then the new ranges as one flush: intents recorded, one insert per table."""
        rebuilt: dict[str, list[PartitionBatch]] = {}
        for batch in batches:
            if batch.rebuild:
                rebuilt.setdefault(batch.flush, []).append(batch)
        for flush, members in rebuilt.items():
            ranges = [member.offsets for member in members]
            whole = bool(flush) and frozenset(ranges) == self.flushes.get(flush)
            log.info(
                "rebuilding a flush: %s",
                "repeating its insert" if whole else "inserting what the warehouse lacks",
                extra={"flush": flush, "ranges": [r.token for r in ranges]},
            )
            if whole:
                self._insert(members, token=flush)  # the very insert that died, repeated
                del self.flushes[flush]
            else:
                self._insert(members, token=flush_token(ranges), skip_stored=True)
        new = [batch for batch in batches if not batch.rebuild]
        if new:
            # A retry keeps the first attempt's token, whichever batches a revocation left.
            token = next((batch.flush for batch in new if batch.flush), "") or flush_token([b.offsets for b in new])
            for batch in new:
                batch.flush = token
            self._clients.client.insert(
                INTENTS_TABLE,
                [[r.topic, r.partition, r.first, r.last, r.token, token] for r in (b.offsets for b in new)],
                column_names=["topic", "partition", "first_offset", "last_offset", "token", "flush"],
            )
            self._insert(new, token=token)

    def _insert(self, batches: Sequence[PartitionBatch], *, token: str, skip_stored: bool = False) -> None:
        """One insert per table of every batch's rows under ``token``; with ``skip_stored``, without
        the offsets the warehouse already holds (once no loader insert is still running)."""
        client = self._clients.client
        stored: dict[tuple[str, int], set[int]] = {}
        if skip_stored:
            self.wait_for_inserts_in_flight()
            stored = self.stored_offsets([batch.offsets for batch in batches])
        events: list[bytes] = []
        rejected: list[bytes] = []
        dead: list[bytes] = []
        for batch in batches:
            skip = stored.get((batch.topic, batch.partition), set())
            (rejected if batch.rejected else events).extend(batch.rows_except(skip))
            dead.extend(_dead_letter_rows(batch, batch.dead_letters_except(skip)))
        settings = {"insert_deduplication_token": token, "log_comment": LOADER_INSERT}
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
