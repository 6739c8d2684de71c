"""`pulse bench tiers`: hot-layer updates/s, archive events/s and replay rows/s, measured.

Each stage is timed on its own, on synthetic enriched events with realistic cardinalities, so the
figure says what that stage can do (Kafka fetching is not included):

- hot: decode + client-retry check + aggregate + one Lua apply per batch into Redis (``HotWriter``),
  as the updater does;
- archive: Arrow JSON decode + Parquet (zstd) encode + S3 PUT with intent, per 100K range, ranges of
  different partitions ``settings.archive.max_concurrent_writes`` at a time as the archiver does;
- replay: ``INSERT ... SELECT FROM s3()`` of those objects, batched as ``pulse replay`` batches
  them, into ``events`` and every rollup, then the same batches into a copy of ``events`` without
  views (what the views cost is the difference).

The machine is usually shared: every stage also reports its CPU-seconds (the warehouse process's
for replay, which runs there) and the load average around it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from pulse.archive.layout import ArchiveObject, hour_of
from pulse.archive.parquet import Message, encode
from pulse.archive.replay import ReplayBatch, Replayer, batches
from pulse.archive.store import ArchiveStore
from pulse.contracts.events import EnrichedEvent, encode_event, format_time
from pulse.generator.population import AGE_BANDS, DEVICES, REGIONS, SEGMENTS, Population
from pulse.hot.aggregate import client_retries, count_events, decode_each
from pulse.hot.keys import Keys
from pulse.hot.writer import APPLIED, HotWriter
from pulse.settings import Settings
from pulse.worker.client_retries import RecentIds

#: The event mix of the synthetic events (picked uniformly, so a view is three times as likely as any other).
EVENTS = ("view",) * 3 + ("like", "comment", "share", "save", "profile_visit", "follow", "search", "ad_impression")


@dataclass(frozen=True)
class TiersResult:
    events: int
    load_average_before: float
    hot_batch: int
    hot_events_per_s: float
    hot_updates_per_s: float
    hot_redis_commands_per_s: float
    hot_aggregate_share: float
    hot_cpu_s: float
    hot_events_per_cpu_s: float
    archive_batch: int
    archive_partitions: int
    archive_objects: int
    archive_concurrency: int
    archive_events_per_s: float
    archive_mb_per_s: float
    archive_encode_share: float
    archive_cpu_s: float
    archive_events_per_cpu_s: float
    load_average_archive: float
    replay_workers: int
    replay_batch_rows: int
    replay_inserts: int
    replay_rows_per_s: float
    replay_warehouse_cpu_s: float
    replay_rows_per_warehouse_cpu_s: float
    replay_no_views_rows_per_s: float
    replay_no_views_rows_per_warehouse_cpu_s: float
    replay_views_share: float
    load_average_after: float


def synthetic_events(count: int, seed: int, users: int = 50_000) -> list[bytes]:
    """Enriched events over the last minute: 11 types, 50K users of the generator's population (each
    in one city of its region, with a fixed age band, segment and device, as the collector's
    enrichment would attach them), 20K sessions, 500 hashtags, 12 categories."""
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    people = Population(np.random.default_rng(seed), users=users, posts=1, campaigns=1)
    start = datetime.now(UTC) - timedelta(seconds=60)
    values = []
    for i in range(count):
        at = start + timedelta(milliseconds=rng.randrange(60_000))
        user = rng.randrange(users)
        region, device = REGIONS[people.region[user]], DEVICES[people.device[user]]
        values.append(
            encode_event(
                EnrichedEvent(
                    message_id=f"bench-{seed}-{i}",
                    call="track",
                    event=rng.choice(EVENTS),
                    event_time=format_time(at),
                    received_at=format_time(at + timedelta(milliseconds=40)),
                    user_id=f"u{user}",
                    session_id=f"s{rng.randrange(20_000)}",
                    country=region.country,
                    region=region.name,
                    city=region.cities[people.city[user]],
                    age_band=AGE_BANDS[people.age_band[user]],
                    segment=SEGMENTS[people.segment[user]],
                    device_type=device.device_type,
                    os=device.os,
                    browser=device.browser,
                    referrer_source=rng.choice(("direct", "search", "social", "email")),
                    post_id=f"p{rng.randrange(20_000)}",
                    author_id=f"u{rng.randrange(users)}",
                    category=f"cat{rng.randrange(12)}",
                    hashtags=[f"#t{rng.randrange(500)}" for _ in range(rng.randrange(3))],
                    properties='{"k": 1}',
                )
            )
        )
    return values


async def _hot(settings: Settings, values: list[bytes], batch: int) -> tuple[float, float, float, float, float]:
    """events/s, updates/s, Redis commands/s, share of time aggregating, CPU-seconds (ours)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis.url)
    keys = Keys(f"{settings.hot.key_prefix}:bench-{uuid.uuid4().hex[:6]}")
    writer = HotWriter(redis, 600)
    marker = keys.applied("bench", 0)
    recent = RecentIds(settings.loader.dedup_max_ids)
    aggregate_s = apply_s = 0.0
    updates = commands = 0
    began, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(values), batch):
        chunk = values[offset : offset + batch]
        t0 = time.perf_counter()
        events = decode_each(chunk)
        retries = client_retries(events, recent)
        counted = [event for event, retry in zip(events, retries, strict=True) if not retry]
        inc = count_events(counted, keys, now=time.time(), retention_s=900, session_ttl_s=300)
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
    return len(values) / total, updates / total, commands / total, aggregate_s / total, cpu


@dataclass(frozen=True)
class ArchiveFigures:
    events_per_s: float
    mb_per_s: float
    encode_share: float
    cpu_s: float
    objects: list[tuple[ArchiveObject, int]]


def _archive(
    settings: Settings, values: list[bytes], batch: int, partitions: int, topic: str, concurrency: int
) -> ArchiveFigures:
    """The events spread over ``partitions``, each cut into ranges of ``batch`` consecutive offsets
    (one object each), ``concurrency`` ranges at a time: intent, encode, PUT, forget the intent."""
    store = ArchiveStore(settings)
    now_ms = int(time.time() * 1000)
    ranges: list[tuple[int, int, list[bytes]]] = []  # (partition, first offset, values)
    for partition in range(partitions):
        mine = values[partition::partitions]
        ranges.extend((partition, first, mine[first : first + batch]) for first in range(0, len(mine), batch))

    def write(item: tuple[int, int, list[bytes]]) -> tuple[ArchiveObject, int, float, float]:
        partition, first, chunk = item
        obj = ArchiveObject(topic, hour_of(now_ms), partition, first, first + len(chunk) - 1)
        t0 = time.perf_counter()
        store.record_intent(obj)
        t1 = time.perf_counter()
        _table, body = encode(topic, partition, [Message(first + i, now_ms, v) for i, v in enumerate(chunk)])
        t2 = time.perf_counter()
        store.put_archive(obj, body)
        store.forget_intent(obj)
        return obj, len(body), t2 - t1, time.perf_counter() - t0

    # The archiver is a long-running process: warm Arrow's memory pool and threads first (untimed;
    # a cold first range costs ~15% more CPU, page faults of the first large buffers).
    encode(topic, 0, [Message(i, now_ms, v) for i, v in enumerate(ranges[0][2])])
    began, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="archive") as pool:
        written = list(pool.map(write, ranges))
    total, cpu = time.perf_counter() - began, time.process_time() - cpu
    size = sum(length for _, length, _, _ in written)
    return ArchiveFigures(
        events_per_s=len(values) / total,
        mb_per_s=size / total / 1e6,
        encode_share=sum(e for *_, e, _ in written) / sum(w for *_, w in written),
        cpu_s=cpu,
        objects=sorted((obj, length) for obj, length, _, _ in written),
    )


def _process_cpu_s(pid: int | None) -> float:
    """utime + stime of a process (every thread), 0 when it is not a local process we know."""
    if pid is None:
        return 0.0
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: PTH123, SIM115
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _warehouse_pid(settings: Settings) -> int | None:
    try:
        return int((settings.stack.run_dir / "warehouse.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _replay(settings: Settings, planned: list[ReplayBatch], workers: int, table: str) -> tuple[float, float]:
    """Seconds and warehouse CPU-seconds to replay the batches into ``table``."""
    from pulse.warehouse.client import connect

    pid = _warehouse_pid(settings)
    replayer = Replayer(settings, lambda: connect(settings), table=table)
    began, cpu = time.perf_counter(), _process_cpu_s(pid)
    for _done in replayer.replay_all(planned, workers=workers):
        pass
    return time.perf_counter() - began, _process_cpu_s(pid) - cpu


def _per(amount: float, seconds: float) -> float:
    return round(amount / seconds) if seconds > 0 else 0.0


def run_tiers(
    settings: Settings,
    *,
    events: int,
    hot_batch: int,
    archive_batch: int,
    seed: int,
    partitions: int = 2,
    replay_workers: int = 2,
    replay_batch_rows: int | None = None,
    archive_concurrency: int | None = None,
) -> TiersResult:
    from pulse.warehouse.client import connect

    values = synthetic_events(events, seed)
    load_before = os.getloadavg()[0]
    hot_eps, hot_ups, hot_cps, aggregate_share, hot_cpu = asyncio.run(_hot(settings, values, hot_batch))
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    concurrency = archive_concurrency or settings.archive.max_concurrent_writes
    archive = _archive(settings, values, archive_batch, partitions, topic, concurrency)
    load_archive = os.getloadavg()[0]
    batch_rows = replay_batch_rows or settings.archive.replay_batch_rows
    planned = batches(archive.objects, batch_rows)
    replay_s, replay_cpu = _replay(settings, planned, replay_workers, "events")
    # The same objects into a copy of events without the views: what the views cost is the rest.
    client = connect(settings)
    copy = f"bench_events_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE TABLE {copy} AS events")
    try:
        bare_s, bare_cpu = _replay(settings, planned, replay_workers, copy)
    finally:
        client.command(f"DROP TABLE IF EXISTS {copy} SYNC")
    return TiersResult(
        events=events,
        load_average_before=round(load_before, 2),
        hot_batch=hot_batch,
        hot_events_per_s=round(hot_eps),
        hot_updates_per_s=round(hot_ups),
        hot_redis_commands_per_s=round(hot_cps),
        hot_aggregate_share=round(aggregate_share, 3),
        hot_cpu_s=round(hot_cpu, 2),
        hot_events_per_cpu_s=_per(events, hot_cpu),
        archive_batch=archive_batch,
        archive_partitions=partitions,
        archive_objects=len(archive.objects),
        archive_concurrency=concurrency,
        archive_events_per_s=round(archive.events_per_s),
        archive_mb_per_s=round(archive.mb_per_s, 2),
        archive_encode_share=round(archive.encode_share, 3),
        archive_cpu_s=round(archive.cpu_s, 2),
        archive_events_per_cpu_s=_per(events, archive.cpu_s),
        load_average_archive=round(load_archive, 2),
        replay_workers=replay_workers,
        replay_batch_rows=batch_rows,
        replay_inserts=len(planned),
        replay_rows_per_s=_per(events, replay_s),
        replay_warehouse_cpu_s=round(replay_cpu, 2),
        replay_rows_per_warehouse_cpu_s=_per(events, replay_cpu),
        replay_no_views_rows_per_s=_per(events, bare_s),
        replay_no_views_rows_per_warehouse_cpu_s=_per(events, bare_cpu),
        replay_views_share=round(1 - bare_s / replay_s, 3) if replay_s > 0 else 0.0,
        load_average_after=round(os.getloadavg()[0], 2),
    )
