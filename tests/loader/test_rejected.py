"""Batches of the collector's dead-letter topic carry rejected records, not events."""

from __future__ import annotations

import orjson

from pulse.loader.batching import PartitionBatch


def test_rejected_records_keep_their_reason_and_lineage() -> None:
    batch = PartitionBatch("pulse.deadletter", 2, rejected=True)
    record = {
        "failed_at": "2026-11-22T10:00:00+00:00",
        "source": "web",
        "reason": "track without event",
        "reason_code": "contract",
        "payload": "{}",
    }
    batch.add(7, orjson.dumps(record))
    batch.add(8, b"not json")
    (row,) = [orjson.loads(line) for line in batch.rows]
    assert row["reason"] == "track without event" and (row["kafka_partition"], row["kafka_offset"]) == (2, 7)
    assert [dead.offset for dead in batch.dead_letters] == [8]
