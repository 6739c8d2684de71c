"""The hot-layer updater: a consumer group over the enriched topics, applying batches to Redis.

Exactly once: each partition batch is applied by one Lua script together with the partition's
applied-offset marker (see ``writer``). After a restart or rebalance the new owner reads the marker
and drops every message at or below it; Kafka offsets are committed after each apply only so that
restarts re-read little, never for correctness.

Client retries (a messageId again at a later offset) are dropped by the loader's rule (see
``pulse.worker.client_retries``), so Redis counts what ClickHouse stores. The memory of recent messageIds
is rebuilt on assignment by re-reading the partition back to the oldest offset whose retry could
still land in a hot bucket (``retention_s`` ago), at most ``dedup_max_ids`` messages.

It is not an offset-range sink (the marker, not an intent, decides what was applied), but it takes
over partitions, retries Redis, reports lag and health with the same pieces as the offset-range
worker (``pulse.worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from pulse.hot import metrics
from pulse.hot.aggregate import client_retries, count_events, decode_each
from pulse.hot.keys import Keys
from pulse.hot.redis_health import RedisProbe
from pulse.hot.windows import refresh
from pulse.hot.writer import APPLIED, HotWriter
from pulse.settings import Settings
from pulse.worker.assignments import Assignments
from pulse.worker.client_retries import RecentIds
from pulse.worker.health import Health
from pulse.worker.kafka_consumer import partition_consumer, start_consumer
from pulse.worker.resilience import report_lag_forever, retry_reported

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Pending:
    offsets: list[int] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    opened_at: float = field(default_factory=time.monotonic)


class HotUpdater:
    """Consumes enriched events into the Redis hot layer until ``stop()``; closes ``redis`` when done."""

    def __init__(self, settings: Settings, redis: Redis, topics: list[str], health: Health) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.hot.key_prefix)
        self.writer = HotWriter(redis, settings.hot.marker_ttl_s)
        self.topics = topics
        self.health = health
        self.pending: dict[TopicPartition, Pending] = {}
        #: Last applied offset per owned partition (-1: none); messages at or below it are dropped.
        self.applied: dict[TopicPartition, int] = {}
        #: Per owned partition: recent messageIds (client retries of them are dropped) and the
        #: offset where counting resumes; messages before it only rebuild that memory.
        self.recent: dict[TopicPartition, RecentIds] = {}
        self.resume_at: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self.consumer = partition_consumer(settings.kafka, group_id=settings.hot.group_id, role="hot")
        self.assignments = Assignments(self.consumer, self)

    def stop(self) -> None:
        self._stopping.set()

    async def _redis(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry a Redis call with backoff until it succeeds: an outage only grows lag."""
        return await retry_reported(
            call,
            health=self.health,
            dependency="redis",
            operation=operation,
            count=lambda _: metrics.ERRORS.labels(operation).inc(),
        )

    def forget(self, tp: TopicPartition) -> None:
        """Not applied: the next owner reads it again (and its marker drops what was)."""
        self.pending.pop(tp, None)
        self.applied.pop(tp, None)
        self.recent.pop(tp, None)
        self.resume_at.pop(tp, None)
        with contextlib.suppress(KeyError):
            metrics.LAG.remove(tp.topic, str(tp.partition))

    async def settle(self, revoked: list[TopicPartition]) -> None:
        """Nothing to wait for: an apply that lands after the revocation moves the marker, and the
        next owner's applies at or below it are dropped (the marker, not the timing, decides)."""

    async def recover(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Read each partition's marker and resume right after it (or at the commit, if later),
        first re-reading the recent messages whose retries must still be recognised."""
        starts: dict[TopicPartition, int] = {}
        for tp in partitions:
            marker = self.keys.applied(tp.topic, tp.partition)
            applied = await self._redis("get_marker", functools.partial(self.writer.applied_offset, marker))
            committed = await self.consumer.committed(tp) or 0
            start = max(committed, applied + 1)
            starts[tp] = await self._remember_from(tp, start)
            self.applied[tp] = applied
            self.recent[tp] = RecentIds(self.settings.loader.dedup_max_ids)
            self.resume_at[tp] = start
            self.pending.pop(tp, None)
        return starts

    async def _remember_from(self, tp: TopicPartition, start: int) -> int:
        """The first offset whose messageId must be remembered before counting from ``start``: a
        retry of anything older arrives after its bucket expired and is dropped as late anyway."""
        if start == 0:
            return 0
        oldest = max(0, start - self.settings.loader.dedup_max_ids)
        # Kafka timestamps are the collector's produce time: + the bucket's minute, + a minute of skew.
        since_ms = int((time.time() - self.settings.hot.retention_s - 120) * 1000)
        try:
            found = await self.consumer.offsets_for_times({tp: since_ms})
        except KafkaError as error:
            log.info("offsets_for_times failed, remembering by count", extra={"error": str(error)})
            return oldest
        at = found.get(tp)
        return max(oldest, min(at.offset, start)) if at is not None else start

    async def run(self) -> None:
        self.consumer.subscribe(self.topics, listener=self.assignments)
        try:
            await start_consumer(self.consumer, self.settings.kafka, "hot")
        except BaseException:
            await self.redis.aclose()
            raise
        cfg = self.settings.hot
        background = [
            asyncio.create_task(self._refresh_forever()),
            asyncio.create_task(self._report_lag_forever()),
            asyncio.create_task(RedisProbe(self.redis, timeout_s=2.0).probe_forever(cfg.redis_probe_ms / 1000)),
        ]
        try:
            while not self._stopping.is_set():
                self.health.beat()
                records = await self.consumer.getmany(timeout_ms=50, max_records=cfg.max_batch_rows)
                for tp, messages in records.items():
                    if not self.assignments.owns(tp) or tp not in self.applied:
                        continue  # fetched before an assignment finished: read again after the seek
                    resume_at = self.resume_at[tp]
                    if messages[0].offset < resume_at:
                        # Counted before this replica owned the partition: only remembered.
                        client_retries(
                            decode_each([r.value for r in messages if r.offset < resume_at]), self.recent[tp]
                        )
                        messages = [r for r in messages if r.offset >= resume_at]
                    pending = self.pending.setdefault(tp, Pending())
                    for record in messages:
                        pending.offsets.append(record.offset)
                        pending.values.append(record.value)
                now = time.monotonic()
                for tp, pending in list(self.pending.items()):
                    if (
                        len(pending.offsets) >= cfg.max_batch_rows
                        or now - pending.opened_at >= cfg.max_batch_age_ms / 1000
                    ):
                        await self._apply(tp, pending)
            for tp, pending in list(self.pending.items()):
                await self._apply(tp, pending)
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.consumer.stop()
            await self.redis.aclose()

    async def _apply(self, tp: TopicPartition, pending: Pending) -> None:
        if self.pending.get(tp) is pending:
            del self.pending[tp]
        if not pending.offsets or tp not in self.applied:
            return
        started = time.perf_counter()
        marker = self.keys.applied(tp.topic, tp.partition)
        offsets, events = pending.offsets, decode_each(pending.values)
        retries = client_retries(events, self.recent[tp])  # decided once; the range still covers them
        while True:
            keep = [i for i, offset in enumerate(offsets) if offset > self.applied[tp]]
            if len(keep) < len(offsets):
                metrics.REDELIVERED.labels(tp.topic).inc(len(offsets) - len(keep))
                offsets, events, retries = (
                    [offsets[i] for i in keep],
                    [events[i] for i in keep],
                    [retries[i] for i in keep],
                )
            if not offsets:
                break
            inc = count_events(
                [event for event, retry in zip(events, retries, strict=True) if not retry],
                self.keys,
                now=time.time(),
                retention_s=self.settings.hot.retention_s,
                session_ttl_s=self.settings.hot.active_session_s,
            )
            first, last = offsets[0], offsets[-1]
            result = await self._redis("apply", functools.partial(self.writer.apply, marker, first, last, inc))
            if result == APPLIED:
                self.applied[tp] = last
                metrics.EVENTS.labels(tp.topic).inc(inc.events)
                metrics.UPDATES.labels(tp.topic).inc(inc.updates)
                metrics.LATE.labels(tp.topic).inc(inc.late)
                metrics.INVALID.labels(tp.topic).inc(inc.invalid)
                metrics.BATCHES.labels(tp.topic).inc()
                metrics.DUPLICATES.labels(tp.topic).inc(sum(retries))
                break
            self.applied[tp] = result  # another owner got further: drop what it applied, retry
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        if tp in self.applied and self.applied[tp] >= 0:
            try:
                await self.consumer.commit({tp: self.applied[tp] + 1})
            except KafkaError as error:
                log.info("offset commit failed (the marker still protects)", extra={"error": str(error)})

    async def _refresh_forever(self) -> None:
        interval = self.settings.hot.window_refresh_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await refresh(self.redis, self.keys, self.settings.hot)
                metrics.REFRESHES.inc()
            except Exception as error:
                metrics.ERRORS.labels("refresh").inc()
                log.warning("window refresh failed", extra={"error": str(error)[:300]})

    async def _report_lag_forever(self) -> None:
        await report_lag_forever(self.consumer, lambda: {tp: a + 1 for tp, a in self.applied.items()}, metrics.LAG)
