"""The hot layer's Lua apply on a real Redis: a redelivered or overlapping range changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from pulse.contracts.events import EnrichedEvent, encode_event, format_time
from pulse.hot.aggregate import aggregate
from pulse.hot.keys import Keys
from pulse.hot.writer import APPLIED, HotWriter
from pulse.settings import Settings


def values(count: int) -> list[bytes | None]:
    now = format_time(datetime.now(UTC))
    return [
        encode_event(
            EnrichedEvent(
                message_id=f"m{i}", call="track", event="like", event_time=now, received_at=now, user_id=f"u{i}"
            )
        )
        for i in range(count)
    ]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 10)), min_size=1, max_size=8))
def test_any_sequence_of_redelivered_ranges_counts_each_offset_once(
    redis_stack: Settings, ranges: list[tuple[int, int]]
) -> None:
    """Batches [first, first+span] applied in any order, like a consumer that restarts anywhere,
    are deduplicated the way the updater does it: drop offsets at or below the marker, retry."""
    messages = values(51)

    async def scenario() -> tuple[int, int]:
        client = Redis.from_url(redis_stack.redis.url)
        keys = Keys(f"pulse:hot:test-{uuid.uuid4().hex[:8]}")
        writer = HotWriter(client, 60)
        marker = keys.applied("t", 0)
        applied = await writer.applied_offset(marker)
        counted = set()
        for first, span in ranges:
            offsets = [o for o in range(first, min(first + span, 50) + 1) if o > applied]
            if not offsets:
                continue
            inc = aggregate([messages[o] for o in offsets], keys, now=time.time(), retention_s=900, session_ttl_s=300)
            result = await writer.apply(marker, offsets[0], offsets[-1], inc)
            assert result == APPLIED  # offsets start right after the marker
            applied = offsets[-1]
            counted.update(offsets)
        minutes = [k async for k in client.scan_iter(f"{keys.prefix}:min:*")]
        total = int(await client.hget(minutes[0], "total") or 0) if minutes else 0
        async for key in client.scan_iter(f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
        return total, len(counted)

    total, distinct = asyncio.run(scenario())
    assert total == distinct


def test_a_range_already_covered_by_the_marker_is_refused_whole(redis_stack: Settings) -> None:
    async def scenario() -> tuple[int, int, int]:
        client = Redis.from_url(redis_stack.redis.url)
        keys = Keys(f"pulse:hot:test-{uuid.uuid4().hex[:8]}")
        writer = HotWriter(client, 60)
        marker = keys.applied("t", 0)
        batch = aggregate(values(10), keys, now=time.time(), retention_s=900, session_ttl_s=300)
        first = await writer.apply(marker, 0, 9, batch)
        again = await writer.apply(marker, 5, 14, batch)  # overlaps: a zombie owner's batch
        minutes = [k async for k in client.scan_iter(f"{keys.prefix}:min:*")]
        total = int(await client.hget(minutes[0], "total") or 0)
        async for key in client.scan_iter(f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
        return first, again, total

    first, again, total = asyncio.run(scenario())
    assert (first, again, total) == (APPLIED, 9, 10)
