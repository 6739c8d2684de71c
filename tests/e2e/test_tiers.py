"""Hot and cold tiers on real components: collector -> Kafka -> {loader, hot layer, archiver}.

Hot: Redis counters equal ClickHouse's for the same buckets, HLL uniques within 2%, keys expire
as documented, and a kill -9 of the updater double-counts nothing. Cold: kill -9 of the archiver
and an S3 outage leave every offset archived exactly once.
"""

from __future__ import annotations

import asyncio
import calendar
import time
from datetime import UTC, datetime

import pytest
import redis
from clickhouse_connect.driver.client import Client

from pulse.chaos import reconcile
from pulse.chaos.reconcile import HotCounts
from pulse.contracts.events import EnrichedEvent, encode_event, format_time
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficGenerator
from pulse.generator.truth import TruthReport
from pulse.hot.aggregate import aggregate
from pulse.hot.keys import Keys
from pulse.hot.writer import APPLIED, HotWriter
from pulse.pipeline.services import pipeline_specs, start_pipeline, supervisor_for
from pulse.settings import Settings
from tests.support.pipeline import collector_url, send_through_crashes
from tests.support.stack import StackHandle
from tests.support.tiers import (
    archive_lag,
    archived_through,
    assert_every_offset_archived_once,
    deliver,
    end_offsets,
    metric_sum,
    now_traffic,
    stored,
    wait_for,
)

UNIQUES = """
SELECT formatDateTime(toStartOfMinute(event_time), '%Y-%m-%dT%H:%i') AS minute,
       uniqExact(if(user_id != '', user_id, anonymous_id))
FROM events
WHERE event_time >= toStartOfMinute(parseDateTime64BestEffort({a:String}, 3))
  AND event_time < toStartOfMinute(parseDateTime64BestEffort({b:String}, 3)) + INTERVAL 1 MINUTE
GROUP BY minute
"""
UNIQUES_IN_WINDOW = """
SELECT uniqExact(if(user_id != '', user_id, anonymous_id))
FROM events
WHERE event_time >= toStartOfMinute(parseDateTime64BestEffort({a:String}, 3))
  AND event_time < toStartOfMinute(parseDateTime64BestEffort({b:String}, 3)) + INTERVAL 1 MINUTE
"""


@pytest.fixture(scope="module")
def hot_redis(pipeline: Settings) -> redis.Redis:
    return redis.Redis.from_url(pipeline.redis.url, decode_responses=True)


def hot_counts(r: redis.Redis, keys: Keys, truth: TruthReport, warehouse: Client) -> tuple[HotCounts, HotCounts]:  # type: ignore[type-arg]
    """(ClickHouse, Redis) per-minute x event x country and per-second totals for the truth's buckets."""
    assert truth.first_event is not None and truth.last_event is not None
    return reconcile.hot_counts(r, keys, truth.first_event, truth.last_event, warehouse)


def wait_until_hot_matches(r: redis.Redis, keys: Keys, truth: TruthReport, warehouse: Client) -> None:
    wait_for(lambda: stored(warehouse, truth) >= truth.events, 90, "the warehouse to store the traffic")
    last: list[tuple[dict, dict]] = []  # type: ignore[type-arg]

    def same() -> bool:
        last[:] = [hot_counts(r, keys, truth, warehouse)]
        return last[0][0] == last[0][1]

    try:
        wait_for(same, 60, "Redis counters to equal ClickHouse's", poll_s=1.0)
    except AssertionError:
        ch, hot = last[0]
        diff = {k: (ch[k], hot[k]) for k in ch if ch[k] != hot[k]}
        raise AssertionError(f"{len(diff)} counters differ (clickhouse, redis): {list(diff.items())[:10]}") from None
    time.sleep(1.0)  # anything more arriving would be a double count
    ch, hot = hot_counts(r, keys, truth, warehouse)
    assert ch == hot


def test_hot_counters_equal_clickhouse_and_uniques_are_within_2_percent(
    pipeline: Settings,
    warehouse: Client,
    hot_redis: redis.Redis,
) -> None:
    keys = Keys(pipeline.hot.key_prefix)
    truth = deliver(pipeline, now_traffic(seed=51, rate=150), events=8_000, paced=False, key="wk_hot")
    wait_until_hot_matches(hot_redis, keys, truth, warehouse)

    result = warehouse.query(UNIQUES, parameters={"a": truth.first_event, "b": truth.last_event})
    for minute, exact in result.result_rows:
        approx = int(hot_redis.hget(keys.minute(minute), "users") or 0)
        # 2% of a partial minute's few users can be below one register collision
        assert abs(approx - exact) <= max(2, 0.02 * exact), (minute, approx, exact)
    merged = hot_redis.pfcount(*(keys.users_minute(m) for m, _ in result.result_rows))
    window = {"a": truth.first_event, "b": truth.last_event}
    exact_total = int(warehouse.query(UNIQUES_IN_WINDOW, parameters=window).result_rows[0][0])
    assert abs(merged - exact_total) <= 0.02 * exact_total, (merged, exact_total)

    minute = result.result_rows[0][0]
    ttl = hot_redis.ttl(keys.minute(minute))
    bucket_end = calendar.timegm(time.strptime(minute, "%Y-%m-%dT%H:%M")) + 60
    assert abs(ttl - (bucket_end + pipeline.hot.retention_s - time.time())) <= 3
    wait_for(lambda: hot_redis.exists(keys.summary) == 1, 10, "the window refresher")
    assert int(hot_redis.hget(keys.summary, "users:15m") or 0) > 0
    assert hot_redis.zcard(keys.trending("hashtags", 5)) > 0
    # no key without expiry (-1); one expiring meanwhile (-2) is what expiry is for
    assert all(hot_redis.ttl(k) != -1 for k in hot_redis.scan_iter(f"{pipeline.hot.key_prefix}:*"))


def test_hot_keys_expire_when_their_bucket_leaves_the_retention(pipeline: Settings) -> None:
    """Every key of a bucket expires at the bucket's end + retention; only the offset marker stays."""

    async def scenario() -> tuple[int, list[str], list[str]]:
        from redis.asyncio import Redis

        client = Redis.from_url(pipeline.redis.url)
        keys = Keys("pulse:hot:expiry-test")
        now = time.time()
        minute_start = now // 60 * 60
        retention = int(now - minute_start) + 2  # the previous minute then ends 2 s from now
        at = datetime.fromtimestamp(minute_start - 0.5, tz=UTC)  # last second of the previous minute
        event = EnrichedEvent(
            message_id="x", call="track", event="view", event_time=format_time(at), received_at=format_time(at),
            user_id="u", session_id="s", hashtags=["#t"], post_id="p",
        )  # fmt: skip
        # Sessions expire a second after the rest (at the previous minute's end + 1 s + retention), so
        # each key lives at least a second: time enough to find all of them before they go.
        inc = aggregate([encode_event(event)], keys, now=now, retention_s=retention, session_ttl_s=retention + 1)
        result = await HotWriter(client, 60).apply(keys.applied("t", 0), 0, 0, inc)
        before = sorted([k.decode() async for k in client.scan_iter("pulse:hot:expiry-test:*", count=1000)])
        await asyncio.sleep(max(0.0, minute_start + retention + 1 - time.time()) + 1.0)
        after = sorted([k.decode() async for k in client.scan_iter("pulse:hot:expiry-test:*", count=1000)])
        await client.aclose()
        return result, before, after

    result, before, after = asyncio.run(scenario())
    assert result == APPLIED
    assert {k.split(":")[3] for k in before} >= {"sec", "min", "users", "hashtags", "posts", "sessions", "applied"}
    assert after == ["pulse:hot:expiry-test:applied:t:0"], after


def test_kill_9_of_the_hot_updater_counts_nothing_twice(
    pipeline: Settings,
    warehouse: Client,
    hot_redis: redis.Redis,
) -> None:
    generator = now_traffic(seed=52, rate=1_500)
    truth = send_through_crashes(pipeline, generator, "wk_hot_kill", events=12_000, service="hot")
    assert truth.unacknowledged.events == 0
    wait_until_hot_matches(hot_redis, Keys(pipeline.hot.key_prefix), truth, warehouse)
    assert metric_sum(pipeline, pipeline.hot.metrics_port, "pulse_hot_events_total") > 0


def test_client_retries_are_counted_once_also_by_an_updater_restarted_in_between(
    pipeline: Settings,
    warehouse: Client,
    hot_redis: redis.Redis,
) -> None:
    """A client resending its events (same messageIds, new offsets) changes no hot counter: the
    updater drops them as the loader does, and a new process relearns what it must recognise."""
    keys = Keys(pipeline.hot.key_prefix)
    traffic = now_traffic(seed=55, rate=300)
    truth = deliver(pipeline, traffic, events=4_000, paced=False, key="wk_hot_retry")
    deliver(pipeline, TrafficGenerator(traffic.config), events=500, paced=False, key="wk_hot_retry")
    wait_until_hot_matches(hot_redis, keys, truth, warehouse)
    assert metric_sum(pipeline, pipeline.hot.metrics_port, "pulse_hot_duplicate_messages_total") >= 500

    assert supervisor_for(pipeline).kill("hot")
    start_pipeline(pipeline)
    retried = deliver(pipeline, TrafficGenerator(traffic.config), events=1_500, paced=False, key="wk_hot_retry")
    wait_for(
        lambda: metric_sum(pipeline, pipeline.hot.metrics_port, "pulse_hot_duplicate_messages_total") >= retried.events,
        60,
        "the restarted updater to drop the retries",
    )
    wait_until_hot_matches(hot_redis, keys, truth, warehouse)


def test_kill_9_of_the_archiver_mid_upload_archives_every_event_exactly_once(pipeline: Settings) -> None:
    supervisor = supervisor_for(pipeline)
    supervisor.stop("archiver")
    small = pipeline.model_copy(
        update={"archive": pipeline.archive.model_copy(update={"max_batch_rows": 700, "max_batch_age_ms": 300})}
    )
    spec = pipeline_specs(small)["archiver"]
    supervisor.start(spec, pipeline.stack.start_timeout_s)
    generator = now_traffic(seed=53, rate=2_000)

    async def scenario() -> tuple[TruthReport, list[bool]]:
        sending = asyncio.create_task(
            send(generator, collector_url(pipeline), "wk_archive_kill", events=14_000, paced=True)
        )
        mid_traffic = []
        for pause in (1.5, 1.7, 2.1):
            await asyncio.sleep(pause)
            mid_traffic.append(not sending.done())
            assert supervisor.kill("archiver")
            await asyncio.to_thread(supervisor.start, spec, pipeline.stack.start_timeout_s)
        return await sending, mid_traffic

    try:
        truth, mid_traffic = asyncio.run(scenario())
        assert truth.unacknowledged.events == 0
        assert mid_traffic[0], "the first kill came after the traffic: nothing was mid-upload"
        ends = end_offsets(pipeline)
        # The last archiver may find nothing left to write (the traffic can end before its restart):
        # what counts is that the archive itself tiles every partition.
        wait_for(lambda: archived_through(pipeline, ends), 90, "the archiver to catch up")
        assert_every_offset_archived_once(pipeline, ends)
    finally:
        supervisor.stop("archiver")
        start_pipeline(pipeline)


def test_an_s3_outage_grows_archive_lag_and_loses_nothing(pipeline: Settings, test_stack: StackHandle) -> None:
    port = pipeline.archive.metrics_port
    errors_before = metric_sum(pipeline, port, "pulse_archive_errors_total")
    with test_stack.outage("s3"):
        deliver(pipeline, now_traffic(seed=54, rate=500), events=5_000, paced=False, key="wk_s3_down")
        wait_for(lambda: archive_lag(pipeline) > 0, 30, "archive lag to show in /metrics")
        wait_for(
            lambda: metric_sum(pipeline, port, "pulse_archive_errors_total") > errors_before, 30, "retried S3 errors"
        )
        health = __import__("httpx").get(f"http://{pipeline.stack.host}:{port}/healthz", timeout=2).json()
        assert "s3" in health["failing"]
    ends = end_offsets(pipeline)
    wait_for(lambda: archived_through(pipeline, ends), 90, "the archiver to catch up after the outage")
    assert_every_offset_archived_once(pipeline, ends)
