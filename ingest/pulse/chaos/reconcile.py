"""Reconciliation against the truth: Kafka end offsets, loader commits, the archive's tiling, Redis vs ClickHouse.

Shared by `pulse chaos` and the exactly-once tests: each check returns what it found (or a list
of problems) so a command can report it and a test can assert on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from clickhouse_connect.driver.client import Client

from pulse.archive.store import ArchiveStore
from pulse.contracts.events import Family
from pulse.hot.keys import Keys
from pulse.pipeline.monitor import metric_total
from pulse.settings import Settings
from pulse.tls import kafka_options

#: ClickHouse's per-minute x event x country counts (the hot layer's minute fields) over a window.
PER_MINUTE = """
SELECT formatDateTime(toStartOfMinute(event_time), '%Y-%m-%dT%H:%i') AS minute, event, country, count()
FROM events
WHERE event_time >= toStartOfMinute(parseDateTime64BestEffort({a:String}, 3))
  AND event_time < toStartOfMinute(parseDateTime64BestEffort({b:String}, 3)) + INTERVAL 1 MINUTE
GROUP BY minute, event, country
"""
#: ClickHouse's per-second totals (the hot layer's second buckets) over a window.
PER_SECOND = """
SELECT formatDateTime(toStartOfSecond(event_time), '%Y-%m-%dT%H:%i:%S') AS second, count()
FROM events
WHERE event_time >= toStartOfSecond(parseDateTime64BestEffort({a:String}, 3))
  AND event_time < toStartOfSecond(parseDateTime64BestEffort({b:String}, 3)) + INTERVAL 1 SECOND
GROUP BY second
"""

Coverage = dict[tuple[str, int], list[tuple[int, int]]]


def metric_sum(settings: Settings, port: int, name: str) -> float:
    """A metric of a pipeline service, summed over its labels (0 when absent)."""
    return metric_total(f"http://{settings.stack.host}:{port}/metrics", name)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    """Poll ``check`` until it is true; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


async def topic_end_offsets(consumer: AIOKafkaConsumer, settings: Settings) -> dict[TopicPartition, int]:
    """The end offset of every partition of every event topic (the loader's and the archiver's input).

    The partitions come from a metadata request of our own: ``consumer.topics()`` returns the names
    without filling the client's cache, so ``partitions_for_topic`` stays None on a consumer that
    subscribes to nothing, and every check built on this would pass on an empty mapping.
    """
    cluster = await consumer._client.fetch_all_metadata()  # aiokafka has no public call for this
    partitions = [
        TopicPartition(topic, p)
        for topic in (settings.kafka.topic(f) for f in Family)
        for p in sorted(cluster.partitions_for_topic(topic) or ())
    ]
    if not partitions:
        raise RuntimeError(f"no partitions of the event topics in {settings.kafka.bootstrap_servers}'s metadata")
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """Every partition's end offset, for every topic the archiver reads."""

    async def read() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(**kafka_options(settings.kafka))
        await consumer.start()
        try:
            ends = await topic_end_offsets(consumer, settings)
            return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}
        finally:
            with contextlib.suppress(asyncio.CancelledError):  # aiokafka's group-less close quirk
                await consumer.stop()

    return asyncio.run(read())


def loader_caught_up(settings: Settings, group_id: str | None = None) -> bool:
    """Whether the loader group has committed every partition's end offset.

    Rows in ``events`` are no proof that an insert is done: the table's part is visible before the
    materialized views below it have written theirs. The loader commits only after its insert
    returned, so a committed end offset means every rollup of that range is written too.
    """

    async def read() -> bool:
        consumer = AIOKafkaConsumer(
            **kafka_options(settings.kafka),
            group_id=group_id or settings.loader.group_id,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            ends = await topic_end_offsets(consumer, settings)
            for tp, end in ends.items():
                if end and (await consumer.committed(tp) or 0) < end:
                    return False
            return True
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    return asyncio.run(read())


def wait_loader_caught_up(settings: Settings, group_id: str | None = None, timeout_s: float = 90.0) -> None:
    """Block until ``loader_caught_up``; AssertionError with the reason after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not loader_caught_up(settings, group_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"the loader did not commit every end offset in {timeout_s:.0f} s")
        time.sleep(0.25)


def archive_coverage(settings: Settings) -> Coverage:
    """Archived offset ranges per (topic, partition), in order."""
    ranges: Coverage = {}
    store = ArchiveStore(settings)
    for obj, _size in store.archived(f"{settings.archive.prefix}/"):
        ranges.setdefault((obj.topic, obj.partition), []).append((obj.first, obj.last))
    return {tp: sorted(r) for tp, r in ranges.items()}


def archive_problems(settings: Settings, ends: dict[tuple[str, int], int]) -> list[str]:
    """Where the archived ranges fail to tile [0, end) of a partition exactly (gap, overlap, short); [] if none."""
    coverage = archive_coverage(settings)
    problems = []
    for tp, end in ends.items():
        if end == 0:
            continue
        ranges = coverage.get(tp, [])
        if not ranges:
            problems.append(f"{tp}: nothing archived of {end} messages")
            continue
        expected_next = 0
        for first, last in ranges:
            if first != expected_next:
                problems.append(f"{tp}: range {first}-{last} after {expected_next - 1} (gap or overlap)")
            expected_next = last + 1
        if expected_next != end:
            problems.append(f"{tp}: archived up to {expected_next}, partition ends at {end}")
    return problems


def archived_through(settings: Settings, ends: dict[tuple[str, int], int]) -> bool:
    """Whether every partition's archived ranges reach its end offset (the archiver has caught up).

    The archiver's lag gauge is no proof: a restarted archiver has no series until its first report.
    """
    coverage = archive_coverage(settings)
    return all(end == 0 or (tp in coverage and coverage[tp][-1][1] + 1 >= end) for tp, end in ends.items())


HotCounts = dict[tuple[str, str], int]


def hot_counts(r: Any, keys: Keys, first: str, last: str, warehouse: Client) -> tuple[HotCounts, HotCounts]:
    """(ClickHouse, Redis) per-minute x event x country, per-minute x event and per-second totals over
    [first, last]; ``r`` is a ``redis.Redis`` with ``decode_responses``."""
    window = {"a": first, "b": last}
    ch: HotCounts = {}
    for minute, event, country, count in warehouse.query(PER_MINUTE, parameters=window).result_rows:
        ch[keys.minute(minute), f"event:{event}|country:{country}"] = int(count)
    for minute in {k for k, _ in ch}:
        totals: dict[str, int] = {}
        for (key, field), count in ch.items():
            if key == minute:
                name = field.split("|")[0]
                totals[name] = totals.get(name, 0) + count
        for name, count in totals.items():
            ch[minute, name] = count
    for second, count in warehouse.query(PER_SECOND, parameters=window).result_rows:
        ch[keys.second(second), "total"] = int(count)
    pipe = r.pipeline()
    for key, field in ch:
        pipe.hget(key, field)
    hot = {item: int(v or 0) for item, v in zip(ch, pipe.execute(), strict=True)}
    return ch, hot
