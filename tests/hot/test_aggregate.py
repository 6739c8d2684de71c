"""Hot-layer aggregation and client-retry decisions as pure functions (no stack)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.contracts.events import EnrichedEvent, encode_event
from pulse.hot.aggregate import aggregate, client_retries, decode_each
from pulse.hot.keys import DIMENSIONS, Keys
from pulse.hot.windows import decay_weight, minute_buckets
from pulse.loader.batching import PartitionBatch
from pulse.worker.client_retries import RecentIds

KEYS = Keys("pulse:hot")
NOW = datetime(2026, 11, 22, 10, 10, tzinfo=UTC).timestamp()

events_strategy = st.builds(
    lambda i, second, name, country, device, tags, session, user: EnrichedEvent(
        message_id=f"m{i}",
        call="track",
        event=name,
        event_time=f"2026-11-22 10:{second // 60:02d}:{second % 60:02d}.250",
        received_at="2026-11-22 10:05:00.000",
        user_id=user,
        anonymous_id="anon",
        country=country,
        device_type=device,
        hashtags=tags,
        session_id=session,
        post_id=f"p{i % 3}" if i % 2 else "",
    ),
    st.integers(0, 50),
    st.integers(0, 15 * 60 - 1),
    st.sampled_from(["view", "like", "ad_click"]),
    st.sampled_from(["DE", "US", "unknown"]),
    st.sampled_from(["mobile", "desktop"]),
    st.lists(st.sampled_from(["#a", "#b", "#c"]), max_size=2),
    st.sampled_from(["", "s1", "s2"]),
    st.sampled_from(["", "u1", "u2", "u3"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(events_strategy, max_size=80), st.lists(st.sampled_from([b"nope", b"{}", b""]), max_size=3))
def test_increments_equal_a_naive_recount(events: list[EnrichedEvent], poison: list[bytes]) -> None:
    values: list[bytes | None] = [*(encode_event(e) for e in events), *poison]
    inc = aggregate(values, KEYS, now=NOW, retention_s=900, session_ttl_s=300)
    expected: Counter[tuple[str, str]] = Counter()
    for e in events:
        for bucket, key in ((e.event_time[:19], KEYS.second), (e.event_time[:16], KEYS.minute)):
            name = key(bucket.replace(" ", "T"))
            expected[name, "total"] += 1
            expected[name, f"event:{e.event}"] += 1
            for dim in DIMENSIONS:
                expected[name, f"{dim}:{getattr(e, dim)}"] += 1
                if key == KEYS.minute:  # the event x dimension cross is kept per minute only
                    expected[name, f"event:{e.event}|{dim}:{getattr(e, dim)}"] += 1
    assert dict(inc.hincr) == dict(expected)
    assert inc.events == len(events) and inc.invalid == len(poison) and inc.late == 0
    users: dict[str, set[str]] = {}
    for e in events:
        users.setdefault(KEYS.users_minute(e.event_time[:16].replace(" ", "T")), set()).add(e.user_id or "anon")
    assert dict(inc.pfadd) == users
    tags = Counter(
        (KEYS.trending_minute("hashtags", e.event_time[:16].replace(" ", "T")), t) for e in events for t in e.hashtags
    )
    assert {k: v for k, v in inc.zincr.items() if ":hashtags:" in k[0]} == dict(tags)
    for hash_key in {k for k, _ in inc.hincr}:
        assert hash_key in inc.expire_at


def test_events_whose_bucket_has_expired_are_late_not_counted() -> None:
    old = EnrichedEvent(
        message_id="m", call="track", event="view", event_time="2026-11-22 09:40:00.000", received_at="x"
    )
    inc = aggregate([encode_event(old)], KEYS, now=NOW, retention_s=900, session_ttl_s=300)
    assert (inc.events, inc.late, len(inc.hincr)) == (0, 1, 0)


def test_minute_keys_expire_at_bucket_end_plus_retention() -> None:
    e = EnrichedEvent(message_id="m", call="track", event="view", event_time="2026-11-22 10:05:07.000", received_at="x")
    inc = aggregate([encode_event(e)], KEYS, now=NOW, retention_s=900, session_ttl_s=300)
    minute_end = datetime(2026, 11, 22, 10, 6, tzinfo=UTC).timestamp()
    assert inc.expire_at[KEYS.minute("2026-11-22T10:05")] == minute_end + 900
    assert inc.expire_at[KEYS.second("2026-11-22T10:05:07")] == minute_end - 52 + 900


def test_decay_halves_per_half_life_and_windows_name_the_last_minutes() -> None:
    now = datetime(2026, 11, 22, 10, 10, 30, tzinfo=UTC).timestamp()
    assert minute_buckets(now, 3) == ["2026-11-22T10:10", "2026-11-22T10:09", "2026-11-22T10:08"]
    assert decay_weight(0, now, 60) == 1.0
    assert abs(decay_weight(1, now, 30) - 0.5) < 1e-9  # minute 10:09 ended 30 s ago


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(events_strategy, st.sampled_from([b"not json", b'{"message_id": "m1"}', None])),
        max_size=60,
    ),
    st.integers(1, 20),
)
def test_the_hot_layer_drops_exactly_the_client_retries_the_loader_drops(
    messages: list[EnrichedEvent | bytes | None], limit: int
) -> None:
    """Same partition, same messages in offset order, same memory bound: the loader stores and the
    hot layer counts the same events (invalid messages never enter either memory)."""
    values = [encode_event(m) if isinstance(m, EnrichedEvent) else m for m in messages]
    batch = PartitionBatch("pulse.interactions", 0)
    loader_memory = RecentIds(limit)
    for offset, value in enumerate(values):
        batch.add(offset, value, loader_memory.seen)
    stored = [msgspec.json.decode(row)["message_id"] for row in batch.rows]

    events = decode_each(values)
    retries = client_retries(events, RecentIds(limit))
    counted = [e.message_id for e, retry in zip(events, retries, strict=True) if e is not None and not retry]
    assert counted == stored
    assert sum(retries) == batch.duplicates
