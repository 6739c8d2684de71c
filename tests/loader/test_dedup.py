"""The loader's memory of recent messageIds: retries are recognised, memory stays bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pulse.contracts.events import EnrichedEvent, encode_event
from pulse.loader.batching import PartitionBatch
from pulse.worker.client_retries import RecentIds


@given(st.lists(st.text(min_size=1, max_size=6)), st.integers(min_value=1, max_value=50))
def test_a_repeat_within_the_bound_is_seen_and_memory_is_bounded(ids: list[str], limit: int) -> None:
    recent = RecentIds(limit)
    remembered: list[str] = []
    for message_id in ids:
        expected = message_id in remembered[-limit:]
        assert recent.seen(message_id) is expected
        if not expected:
            remembered.append(message_id)
        assert len(recent) <= limit


def event(message_id: str) -> bytes:
    return encode_event(
        EnrichedEvent(
            message_id=message_id,
            call="track",
            event="view",
            event_time="2026-11-22 10:00:00.000",
            received_at="2026-11-22 10:00:00.100",
            user_id="u1",
        )
    )


def test_a_batch_drops_retries_but_its_range_still_covers_them() -> None:
    recent = RecentIds(100, ["m1"])
    batch = PartitionBatch("pulse.interactions", 0)
    for offset, message_id in enumerate(["m1", "m2", "m2", "m3"], start=10):
        batch.add(offset, event(message_id), recent.seen)
    assert (batch.offsets.first, batch.offsets.last) == (10, 13)
    assert len(batch.rows) == 2 and batch.duplicates == 2 and batch.size == 4
