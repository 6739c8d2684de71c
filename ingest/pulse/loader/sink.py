"""Writes offset-range batches to the warehouse, and finds the range to rebuild after a crash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from clickhouse_connect.driver.client import Client

from pulse.loader.batching import OffsetRange, PartitionBatch
from pulse.warehouse.client import ClientPerThread

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


@dataclass(frozen=True)
class Intent:
    """A range a loader planned for a partition (inserted or not)."""

    first: int
    last: int


class WarehouseSink:
    """Blocking writes through clickhouse-connect; the loader calls them from a worker thread."""

    def __init__(self, connect: Callable[[], Client]) -> None:
        self._clients = ClientPerThread(connect)

    def planned_ranges(self, topic: str, committed: dict[int, int]) -> dict[int, list[Intent]]:
        """Ranges planned at or after each partition's committed offset, in offset order.

        Normally at most one (a crash between insert and commit); after an offset reset, every
        range since, so a replay cuts the same blocks and deduplication drops them.
        """
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

    def write(self, batch: PartitionBatch) -> OffsetRange:
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
        return offsets
