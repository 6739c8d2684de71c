"""Writes offset-range batches to the warehouse, and finds the range to rebuild after a crash."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from clickhouse_connect.driver.client import Client

from pulse.loader.batching import OffsetRange, PartitionBatch

EVENTS_TABLE = "events"
INTENTS_TABLE = "loader_batches"
DEAD_LETTERS_TABLE = "loader_dead_letters"

_LATEST_INTENTS = """
SELECT partition, max(first_offset) AS planned_first, argMax(last_offset, first_offset) AS planned_last
FROM loader_batches
WHERE topic = {topic:String}
GROUP BY partition
"""


@dataclass(frozen=True)
class Intent:
    """The last range a loader planned for a partition (inserted or not)."""

    first: int
    last: int


class WarehouseSink:
    """Blocking writes through clickhouse-connect; the loader calls them from a worker thread."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def latest_intents(self, topic: str) -> dict[int, Intent]:
        result = self.client.query(_LATEST_INTENTS, parameters={"topic": topic})
        return {int(p): Intent(int(first), int(last)) for p, first, last in result.result_rows}

    def write(self, batch: PartitionBatch) -> OffsetRange:
        """Record the intent (unless rebuilding one), then insert rows and dead letters under its token."""
        offsets = batch.offsets
        if not batch.is_recovery:
            self.client.insert(
                INTENTS_TABLE,
                [[offsets.topic, offsets.partition, offsets.first, offsets.last, offsets.token]],
                column_names=["topic", "partition", "first_offset", "last_offset", "token"],
            )
        settings = {"insert_deduplication_token": offsets.token}
        if batch.rows:
            self.client.raw_insert(EVENTS_TABLE, None, batch.json_each_row(), settings=settings, fmt="JSONEachRow")
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
            self.client.raw_insert(DEAD_LETTERS_TABLE, None, lines, settings=settings, fmt="JSONEachRow")
        return offsets
