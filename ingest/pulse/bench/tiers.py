"""`pulse bench tiers`: hot-layer updates/s, archive events/s and replay rows/s, measured.

Each stage is timed on its own, on synthetic enriched events with realistic cardinalities, so the
figure says what that stage can do (Kafka fetching is measured separately as ``kafka_fetch``):

- hot: decode + aggregate + one Lua apply per batch into Redis (``HotWriter``), as the updater does;
- archive: Arrow JSON decode + Parquet (zstd) encode + S3 PUT with intent, per 100K range;
- replay: ``INSERT ... SELECT FROM s3()`` of those objects into ``events`` and every rollup.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from pulse.archive.layout import ArchiveObject, hour_of
from pulse.archive.parquet import Message, to_parquet, to_table
from pulse.archive.replay import Replayer
from pulse.archive.store import ArchiveStore
from pulse.events import EnrichedEvent, encode_event, format_time
from pulse.hot.aggregate import aggregate
from pulse.hot.keys import Keys
from pulse.hot.writer import APPLIED, HotWriter
from pulse.settings import Settings

EVENTS = (
    "view",
    "view",
    "view",
    "like",
    "comment",
    "share",
    "save",
    "profile_visit",
    "follow",
    "search",
    "ad_impression",
)


@dataclass(frozen=True)
class TiersResult:
    events: int
    hot_batch: int
    hot_events_per_s: float
    hot_updates_per_s: float
    hot_redis_commands_per_s: float
    hot_aggregate_share: float
    hot_events_per_cpu_s: float
    archive_batch: int
    archive_events_per_s: float
    archive_mb_per_s: float
    archive_encode_share: float
    archive_events_per_cpu_s: float
    replay_workers: int
    replay_rows_per_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def synthetic_events(count: int, seed: int) -> list[bytes]:
    """Enriched events over the last minute: 12 types, 30 countries, 50K users, 500 hashtags."""
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    start = datetime.now(UTC) - timedelta(seconds=60)
    values = []
    for i in range(count):
        at = start + timedelta(milliseconds=rng.randrange(60_000))
        values.append(
            encode_event(
                EnrichedEvent(
                    message_id=f"bench-{seed}-{i}",
                    call="track",
                    event=rng.choice(EVENTS),
                    event_time=format_time(at),
                    received_at=format_time(at + timedelta(milliseconds=40)),
                    user_id=f"u{rng.randrange(50_000)}",
                    session_id=f"s{rng.randrange(20_000)}",
                    country=f"C{rng.randrange(30)}",
                    region=f"R{rng.randrange(100)}",
                    city=f"city{rng.randrange(300)}",
                    age_band=rng.choice(("18-24", "25-34", "35-44", "45-54", "55+")),
                    segment=rng.choice(("casual", "creator", "power", "new")),
                    device_type=rng.choice(("mobile", "desktop", "tablet")),
                    os=rng.choice(("iOS", "Android", "Windows", "Mac OS X", "Linux")),
                    browser=rng.choice(("Chrome", "Safari", "Firefox")),
                    referrer_source=rng.choice(("direct", "search", "social", "email")),
                    post_id=f"p{rng.randrange(20_000)}",
                    author_id=f"u{rng.randrange(50_000)}",
                    category=f"cat{rng.randrange(12)}",
                    hashtags=[f"#t{rng.randrange(500)}" for _ in range(rng.randrange(3))],
                    properties='{"k": 1}',
                )
            )
        )
    return values


async def _hot(settings: Settings, values: list[bytes], batch: int) -> tuple[float, float, float, float, float]:
    """events/s, updates/s, Redis commands/s, share of time aggregating, events per CPU-second (ours)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis.url)
    keys = Keys(f"{settings.hot.key_prefix}:bench-{uuid.uuid4().hex[:6]}")
    writer = HotWriter(redis, 600)
    marker = keys.applied("bench", 0)
    aggregate_s = apply_s = 0.0
    updates = commands = 0
    began, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(values), batch):
        chunk = values[offset : offset + batch]
        t0 = time.perf_counter()
        inc = aggregate(chunk, keys, now=time.time(), retention_s=900, session_ttl_s=300)
        t1 = time.perf_counter()
        assert await writer.apply(marker, offset, offset + len(chunk) - 1, inc) == APPLIED
        apply_s += time.perf_counter() - t1
        aggregate_s += t1 - t0
        updates += inc.updates
        commands += len(inc.hincr) + len(inc.zincr) + len(inc.pfadd) + len(inc.zadd_max) + len(inc.expire_at)
    total, cpu = time.perf_counter() - began, time.process_time() - cpu
    async for key in redis.scan_iter(f"{keys.prefix}:*"):
        await redis.delete(key)
    await redis.aclose()
    return len(values) / total, updates / total, commands / total, aggregate_s / total, len(values) / cpu


def _archive(
    settings: Settings, values: list[bytes], batch: int, topic: str
) -> tuple[float, float, float, float, list[tuple[ArchiveObject, int]]]:
    """events/s, MB/s, share of time encoding, events per CPU-second (ours), the objects written."""
    store = ArchiveStore(settings)
    now_ms = int(time.time() * 1000)
    objects = []
    encode_s = 0.0
    size = 0
    began, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(values), batch):
        chunk = values[offset : offset + batch]
        t0 = time.perf_counter()
        messages = [Message(offset + i, now_ms, v) for i, v in enumerate(chunk)]
        body = to_parquet(to_table(topic, 0, messages))
        encode_s += time.perf_counter() - t0
        obj = ArchiveObject(topic, hour_of(now_ms), 0, offset, offset + len(chunk) - 1)
        store.record_intent(obj)
        store.put_archive(obj, body)
        store.forget_intent(obj)
        objects.append((obj, len(body)))
        size += len(body)
    total, cpu = time.perf_counter() - began, time.process_time() - cpu
    return len(values) / total, size / total / 1e6, encode_s / total, len(values) / cpu, objects


def run_tiers(
    settings: Settings, *, events: int, hot_batch: int, archive_batch: int, seed: int, replay_workers: int = 2
) -> TiersResult:
    from pulse.warehouse.client import connect

    values = synthetic_events(events, seed)
    hot_eps, hot_ups, hot_cps, aggregate_share, hot_cpu = asyncio.run(_hot(settings, values, hot_batch))
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    archive_eps, archive_mbps, encode_share, archive_cpu, objects = _archive(settings, values, archive_batch, topic)
    replayer = Replayer(settings, lambda: connect(settings))
    began = time.perf_counter()
    for _done in replayer.replay_all(objects, workers=replay_workers):
        pass
    replay_s = time.perf_counter() - began
    return TiersResult(
        events=events,
        hot_batch=hot_batch,
        hot_events_per_s=round(hot_eps),
        hot_updates_per_s=round(hot_ups),
        hot_redis_commands_per_s=round(hot_cps),
        hot_aggregate_share=round(aggregate_share, 3),
        hot_events_per_cpu_s=round(hot_cpu),
        archive_batch=archive_batch,
        archive_events_per_s=round(archive_eps),
        archive_mb_per_s=round(archive_mbps, 2),
        archive_encode_share=round(encode_share, 3),
        archive_events_per_cpu_s=round(archive_cpu),
        replay_workers=replay_workers,
        replay_rows_per_s=round(events / replay_s),
    )
