"""Archive naming, range cutting, replay batching and Parquet encoding as pure functions (no stack)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import msgspec
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.archive.layout import ArchiveObject, hour_of, intent_key, parse_intent, parse_key
from pulse.archive.parquet import SCHEMA, Message, encode, to_parquet, to_table
from pulse.archive.replay import ReplayBatch, ReplayedBatch, Replayer, batches, partition_lanes
from pulse.archive.sink import RangeBatch
from pulse.contracts.events import EnrichedEvent, encode_event
from pulse.settings import Settings


@given(
    st.sampled_from(["pulse.interactions", "pulse.ads"]),
    st.integers(0, 2**15),
    st.integers(0, 10**12),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_archive_keys_and_intents_round_trip(topic: str, partition: int, first: int, span: int, hours: int) -> None:
    obj = ArchiveObject(topic, hour_of(hours * 3_600_000), partition, first, first + span)
    assert parse_key("raw", obj.key("raw")) == obj
    assert parse_key("other", obj.key("raw")) is None
    name = intent_key("raw", obj).rsplit("/", 1)[1]
    assert parse_intent(topic, partition, name) == obj


archived_objects = st.lists(
    st.tuples(st.sampled_from(["t1", "t2"]), st.integers(0, 2), st.integers(0, 2), st.integers(1, 400)),
    max_size=40,
).map(
    lambda specs: sorted(  # as select_objects lists them; offsets grow with the hour, as Kafka's do
        (
            (ArchiveObject(topic, hour_of(hour * 3_600_000), partition, 1_000 * i, 1_000 * i + rows - 1), rows * 50)
            for i, (topic, partition, hour, rows) in enumerate(sorted(specs, key=lambda spec: spec[2]))
        ),
        key=lambda item: (item[0].topic, item[0].partition, item[0].first),
    )
)


@settings(max_examples=80, deadline=None)
@given(archived_objects, st.integers(1, 1_000))
def test_replay_batches_cover_every_object_once_within_one_partition_hour_and_the_size_cap(
    objects: list[tuple[ArchiveObject, int]], max_rows: int
) -> None:
    planned = batches(objects, max_rows)
    assert [item for batch in planned for item in batch.objects] == objects
    for batch in planned:
        places = {(obj.topic, obj.partition, obj.hour) for obj, _ in batch.objects}
        assert len(places) == 1
        assert batch.rows <= max_rows or len(batch.objects) == 1
    for before, after in itertools.pairwise(planned):
        head, next_head = before.first, after.first
        if (head.topic, head.partition, head.hour) == (next_head.topic, next_head.partition, next_head.hour):
            assert before.rows + after.first.rows > max_rows  # a batch is cut only when it is full
    assert batches(objects, max_rows) == planned  # a second replay forms the same batches (same tokens)
    lanes = partition_lanes(planned)  # replayed one partition at a time, in offset order
    assert [batch for lane in lanes for batch in lane] == planned
    assert all(len({(b.first.topic, b.first.partition) for b in lane}) == 1 for lane in lanes)
    assert len({batch.token for batch in planned}) == len(planned)


class _Recording(Replayer):
    """Replays nothing: records each batch it is given and fails on partition 0 (the scheduling of
    ``replay_all`` is what is under test; inserting is tested on the real stack)."""

    def __init__(self) -> None:
        super().__init__(Settings(), lambda: pytest.fail("no warehouse is needed"))
        self.started: list[ReplayBatch] = []

    def replay(self, batch: ReplayBatch) -> ReplayedBatch:
        self.started.append(batch)
        time.sleep(0.01)
        if batch.first.partition == 0 and batch.first.first == 20:
            raise RuntimeError("S3 object not found")
        return ReplayedBatch(batch, 0, "inserted")


def _lanes(failing: bool) -> list[ReplayBatch]:
    """Partition 1: 50 batches. Partition 0 (if ``failing``): 3 batches, the third failing, by which
    time both partitions are being replayed."""
    hour = hour_of(1_763_800_000_000)
    lanes = {0: 3 if failing else 0, 1: 50}
    return [
        ReplayBatch(((ArchiveObject("t", hour, partition, 10 * i, 10 * i + 9), 100),))
        for partition, count in lanes.items()
        for i in range(count)
    ]


def test_replay_stops_every_partition_after_a_failure_or_when_its_caller_stops_reading() -> None:
    replayer = _Recording()
    with pytest.raises(RuntimeError, match="not found"):
        for _done in replayer.replay_all(_lanes(failing=True), workers=2):
            pass
    assert len(replayer.started) < 40, "the other partition went on after the failure"

    replayer = _Recording()
    replaying = replayer.replay_all(_lanes(failing=False), workers=2)
    assert next(replaying).action == "inserted"
    replaying.close()
    assert len(replayer.started) < 40, "batches went on after the caller stopped reading"


def test_a_range_is_cut_where_the_kafka_hour_changes() -> None:
    hour = 1_763_800_000_000 // 3_600_000 * 3_600_000
    batch = RangeBatch("t", 0, hour)
    assert batch.accepts(5, hour + 3_599_999)
    assert not batch.accepts(5, hour + 3_600_000)
    assert not RangeBatch("t", 0, hour, must_end_at=4).accepts(5, hour)


def test_parquet_keeps_every_message_and_marks_the_invalid_ones(tmp_path: object) -> None:
    good = [
        encode_event(
            EnrichedEvent(
                message_id=f"m{i}",
                call="track",
                event="view",
                event_time="2026-11-22 10:00:00.123",
                received_at="2026-11-22 10:00:01.000",
                hashtags=["#x"],
                spend_micros=i,
            )
        )
        for i in range(5)
    ]
    messages = [Message(10 + i, 1_763_800_000_000, v) for i, v in enumerate(good)]
    messages.insert(2, Message(99, 1_763_800_000_000, b"{broken"))
    table = pq.read_table(__import__("io").BytesIO(to_parquet(to_table("pulse.interactions", 1, messages))))
    assert table.num_rows == 6
    assert table.column("raw_message").null_count == 5
    rows = table.to_pylist()
    assert [r["kafka_offset"] for r in rows] == [10, 11, 12, 13, 14, 99]
    assert rows[0]["event_time"] == datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=UTC)
    assert rows[-1]["raw_message"] == "{broken" and rows[-1]["message_id"] is None
    assert msgspec.json.decode(good[3])["spend_micros"] == rows[3]["spend_micros"]


def test_a_missing_optional_field_is_archived_with_the_contracts_default_as_the_loader_stores_it() -> None:
    partial = (
        b'{"message_id":"m1","call":"track","event":"view",'
        b'"event_time":"2026-11-22 10:00:00.000","received_at":"2026-11-22 10:00:00.100"}'
    )
    rows = to_table("pulse.interactions", 0, [Message(0, 1_763_800_000_000, partial)]).to_pylist()
    assert rows[0]["country"] == "unknown" and rows[0]["hashtags"] == [] and rows[0]["raw_message"] is None


def test_encode_writes_the_archive_schema_unchanged_whatever_the_writer_options() -> None:
    """Replay and analysts' queries read these column types: Parquet options must not change them."""
    value = encode_event(
        EnrichedEvent(
            message_id="m",
            call="track",
            event="view",
            event_time="2026-11-22 10:00:00.000",
            received_at="2026-11-22 10:00:00.040",
        )
    )
    table, body = encode("pulse.interactions", 3, [Message(7, 1_763_800_000_000, value)])
    stored = pq.read_table(__import__("io").BytesIO(body))
    assert table.schema == SCHEMA and stored.schema.remove_metadata() == SCHEMA
    assert pq.ParquetFile(__import__("io").BytesIO(body)).metadata.num_row_groups == 1
    assert stored.to_pylist() == table.to_pylist()


def test_a_time_that_is_not_a_time_rejects_that_message_only() -> None:
    """msgspec accepts any string as a time; Arrow does not: the range must still be archivable."""
    values = [
        encode_event(
            EnrichedEvent(
                message_id=f"m{i}",
                call="track",
                event="view",
                event_time="2026-11-22 10:00:00.000" if i != 5 else "yesterday",
                received_at="2026-11-22 10:00:00.040",
            )
        )
        for i in range(9)
    ]
    table = to_table("pulse.interactions", 0, [Message(i, 1_763_800_000_000, v) for i, v in enumerate(values)])
    rows = table.to_pylist()
    assert [r["kafka_offset"] for r in rows] == list(range(9))
    assert [r["kafka_offset"] for r in rows if r["raw_message"] is not None] == [5]
    assert "yesterday" in rows[5]["raw_message"] and rows[5]["error"]
    assert rows[4]["message_id"] == "m4" and rows[6]["message_id"] == "m6"
