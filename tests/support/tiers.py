"""Shared helpers of the tier tests: metrics scraping, waiting, traffic near the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from pulse.archive.store import ArchiveStore
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.generator.truth import TruthReport
from pulse.pipeline.monitor import metric_total
from pulse.settings import Settings
from tests.support.pipeline import collector_url, topic_end_offsets


def metric_sum(settings: Settings, port: int, name: str) -> float:
    """A metric of a pipeline service, summed over its labels (0 when absent)."""
    return metric_total(f"http://{settings.stack.host}:{port}/metrics", name)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def now_traffic(seed: int, rate: float) -> TrafficGenerator:
    """Traffic whose event times start now, so it lands in the hot layer's 15 minutes."""
    return TrafficGenerator(
        TrafficConfig(seed=seed, start=datetime.now(UTC), rate=rate, users=3_000, posts=2_000, campaigns=4)
    )


def deliver(settings: Settings, generator: TrafficGenerator, *, events: int, paced: bool, key: str) -> TruthReport:
    truth = asyncio.run(send(generator, collector_url(settings), key, events=events, paced=paced, concurrency=4))
    assert truth.unacknowledged.events == 0
    return truth


def stored(warehouse: Client, truth: TruthReport) -> int:
    return int(
        warehouse.query(
            "SELECT count() FROM events WHERE event_time BETWEEN parseDateTime64BestEffort({a:String}, 3)"
            " AND parseDateTime64BestEffort({b:String}, 3)",
            parameters={"a": truth.first_event, "b": truth.last_event},
        ).result_rows[0][0]
    )


def archive_lag(settings: Settings) -> float:
    return metric_sum(settings, settings.archive.metrics_port, "pulse_archive_lag_messages")


def archive_coverage(settings: Settings) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Archived offset ranges per (topic, partition), in order."""
    ranges: dict[tuple[str, int], list[tuple[int, int]]] = {}
    store = ArchiveStore(settings)
    for obj, _size in store.archived(f"{settings.archive.prefix}/"):
        ranges.setdefault((obj.topic, obj.partition), []).append((obj.first, obj.last))
    return {tp: sorted(r) for tp, r in ranges.items()}


def assert_every_offset_archived_once(settings: Settings, end_offsets: dict[tuple[str, int], int]) -> None:
    """Ranges of each partition tile [0, end) exactly: no gap, no overlap."""
    coverage = archive_coverage(settings)
    for tp, end in end_offsets.items():
        if end == 0:
            continue
        ranges = coverage.get(tp, [])
        assert ranges, f"{tp}: nothing archived of {end} messages"
        expected_next = 0
        for first, last in ranges:
            assert first == expected_next, f"{tp}: range {first}-{last} after {expected_next - 1} (gap or overlap)"
            expected_next = last + 1
        assert expected_next == end, f"{tp}: archived up to {expected_next}, partition ends at {end}"


def archived_through(settings: Settings, end_offsets: dict[tuple[str, int], int]) -> bool:
    """Whether every partition's archived ranges reach its end offset (the archiver has caught up).

    The archiver's lag gauge is no proof: a restarted archiver has no series until its first report.
    """
    coverage = archive_coverage(settings)
    return all(end == 0 or (tp in coverage and coverage[tp][-1][1] + 1 >= end) for tp, end in end_offsets.items())


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """Every partition's end offset, for every topic the archiver reads."""
    from aiokafka import AIOKafkaConsumer

    async def read() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await consumer.start()
        try:
            ends = await topic_end_offsets(consumer, settings)
            return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}
        finally:
            with contextlib.suppress(asyncio.CancelledError):  # aiokafka's group-less close quirk
                await consumer.stop()

    return asyncio.run(read())
