"""Offset-range batches: how they are cut, stamped and named."""

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pulse.contracts.events import EnrichedEvent, encode_event
from pulse.loader.batching import PartitionBatch


def event(n: int) -> bytes:
    return encode_event(
        EnrichedEvent(
            message_id=f"m{n}",
            call="track",
            event="view",
            event_time="2026-11-22 10:00:00.000",
            received_at="2026-11-22 10:00:00.100",
        )
    )


def test_rows_carry_their_kafka_coordinates_and_the_range_names_the_token() -> None:
    batch = PartitionBatch("pulse.interactions", 3)
    for offset in range(10, 13):
        batch.add(offset, event(offset))
    row = msgspec.json.decode(batch.rows[1])
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == ("pulse.interactions", 3, 11)
    assert batch.offsets.token == "pulse.interactions/3/10-12"


def test_poison_messages_become_dead_letters_inside_the_range() -> None:
    batch = PartitionBatch("t", 0)
    batch.add(0, event(0))
    batch.add(1, b"not json")
    batch.add(2, None)
    batch.add(3, b'{"message_id": 5}')
    assert len(batch.rows) == 1
    assert [d.offset for d in batch.dead_letters] == [1, 2, 3]
    assert batch.offsets.first == 0 and batch.offsets.last == 3


def test_a_batch_is_ready_by_size_or_by_age() -> None:
    batch = PartitionBatch("t", 0)
    assert not batch.is_ready(max_rows=2, max_age_s=10, now=0)
    batch.add(0, event(0))
    assert not batch.is_ready(max_rows=2, max_age_s=10, now=batch.opened_at)
    assert batch.is_ready(max_rows=2, max_age_s=10, now=batch.opened_at + 10)
    batch.add(1, event(1))
    assert batch.is_ready(max_rows=2, max_age_s=10, now=batch.opened_at)


@given(first=st.integers(0, 10_000), planned=st.integers(1, 50), extra=st.integers(0, 20))
def test_a_rebuilt_batch_ends_exactly_where_the_intent_ended(first: int, planned: int, extra: int) -> None:
    """Neither size nor age may cut a rebuild short or long: its token must match the first try."""
    last = first + planned - 1
    batch = PartitionBatch("t", 1, must_end_at=last, rebuild=True)
    taken = []
    for offset in range(first, last + 1 + extra):
        if not batch.accepts(offset):
            break
        assert not batch.is_ready(max_rows=1, max_age_s=0, now=1e12) or offset > last
        batch.add(offset, event(offset))
        taken.append(offset)
    assert taken == list(range(first, last + 1))
    assert batch.is_ready(max_rows=10**9, max_age_s=1e9)
    assert batch.offsets.token == f"t/1/{first}-{last}"
