"""End to end on real components: generator -> HTTP collector -> Kafka -> loader -> ClickHouse rollup.

Every test sends its own seeded traffic into its own time window (days apart), then asserts the
per-minute rollup equals the generator's ground truth exactly: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client.parser import text_string_to_metric_families

from pulse.generator.sender import send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.generator.truth import TruthReport
from pulse.settings import Settings
from tests.support.pipeline import collector_url, replaying_loader, send_through_crashes, wait_loader_caught_up
from tests.support.stack import StackHandle

ROLLUP_PER_MINUTE = """
SELECT formatDateTime(minute, '%Y-%m-%dT%H:%i:00Z') AS minute_key, event, sum(events) AS events
FROM events_per_minute
WHERE minute BETWEEN toStartOfMinute(parseDateTime64BestEffort({first:String}, 3))
                 AND toStartOfMinute(parseDateTime64BestEffort({last:String}, 3))
GROUP BY minute_key, event
"""
RAW_IN_WINDOW = """
SELECT count() FROM events
WHERE event_time BETWEEN parseDateTime64BestEffort({first:String}, 3) AND parseDateTime64BestEffort({last:String}, 3)
"""


def window_start(days_ago: int) -> datetime:
    """A minute-aligned start inside the raw table's 30-day TTL, unique to one test."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(days=days_ago, hours=1)


def traffic(seed: int, start: datetime, rate: float) -> TrafficGenerator:
    return TrafficGenerator(TrafficConfig(seed=seed, start=start, rate=rate, users=3_000, posts=2_000, campaigns=4))


def deliver(settings: Settings, generator: TrafficGenerator, *, events: int, paced: bool) -> TruthReport:
    return asyncio.run(send(generator, collector_url(settings), "wk_e2e", events=events, paced=paced, concurrency=4))


def wait_until_stored(warehouse: Client, truth: TruthReport, timeout_s: float = 90.0) -> int:
    """Poll the raw table until the window holds every acknowledged event (or more: a failure)."""
    window = {"first": truth.first_event, "last": truth.last_event}
    deadline = time.monotonic() + timeout_s
    stored = -1
    while time.monotonic() < deadline:
        stored = int(warehouse.query(RAW_IN_WINDOW, parameters=window).result_rows[0][0])
        if stored >= truth.events:
            time.sleep(1.0)  # anything more arriving would be a duplicate: give it a chance to show
            return int(warehouse.query(RAW_IN_WINDOW, parameters=window).result_rows[0][0])
        time.sleep(0.25)
    return stored


def rollup(warehouse: Client, truth: TruthReport) -> dict[str, dict[str, int]]:
    rows = warehouse.query(
        ROLLUP_PER_MINUTE, parameters={"first": truth.first_event, "last": truth.last_event}
    ).result_rows
    per_minute: dict[str, dict[str, int]] = {}
    for minute, event, count in rows:
        per_minute.setdefault(minute, {})[event] = int(count)
    return per_minute


def loader_metrics(settings: Settings) -> dict[str, float]:
    """The loader's counters and gauges, summed over topics and partitions, keyed by name{kind=..}."""
    text = httpx.get(f"http://{settings.stack.host}:{settings.loader.metrics_port}/metrics", timeout=2).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = sample.name
            if "kind" in sample.labels:
                key += f'{{kind="{sample.labels["kind"]}"}}'
            elif "partition" in sample.labels:
                key += f"{{{sample.labels['topic']}/{sample.labels['partition']}}}"
            values[key] = values.get(key, 0.0) + sample.value
    return values


def assert_rollup_equals_truth(settings: Settings, warehouse: Client, truth: TruthReport) -> None:
    assert truth.unacknowledged.events == 0, truth.unacknowledged
    assert wait_until_stored(warehouse, truth) == truth.events
    wait_loader_caught_up(settings)  # the rollups of the last insert are written when it is committed
    assert rollup(warehouse, truth) == truth.per_minute


def test_counts_per_type_per_minute_equal_the_ground_truth(pipeline: Settings, warehouse: Client) -> None:
    truth = deliver(pipeline, traffic(seed=11, start=window_start(1), rate=70), events=12_000, paced=False)
    assert truth.events == 12_000
    assert len(truth.per_minute) >= 2, "the window should span several minutes"
    assert {"view", "like", "ad_impression"} <= set(truth.totals)
    assert_rollup_equals_truth(pipeline, warehouse, truth)


def test_stopping_the_warehouse_mid_stream_loses_and_doubles_nothing(
    pipeline: Settings, warehouse: Client, test_stack: StackHandle
) -> None:
    generator = traffic(seed=12, start=window_start(2), rate=2_000)

    async def scenario() -> TruthReport:
        sending = asyncio.create_task(send(generator, collector_url(pipeline), "wk_e2e", events=16_000, paced=True))
        await asyncio.sleep(2.5)

        def outage() -> None:
            with test_stack.outage("warehouse"):
                time.sleep(3.0)

        await asyncio.to_thread(outage)
        return await sending

    truth = asyncio.run(scenario())
    assert_rollup_equals_truth(pipeline, warehouse, truth)


def test_killing_the_loader_mid_stream_loses_and_doubles_nothing(pipeline: Settings, warehouse: Client) -> None:
    generator = traffic(seed=13, start=window_start(3), rate=2_000)
    truth = send_through_crashes(pipeline, generator, "wk_e2e", events=16_000, service="loader")
    assert_rollup_equals_truth(pipeline, warehouse, truth)


def test_a_full_replay_by_a_new_consumer_group_changes_no_rollup(pipeline: Settings, warehouse: Client) -> None:
    """Redelivery of every offset (a new group starts at the beginning) must be a no-op."""
    truth = deliver(pipeline, traffic(seed=14, start=window_start(4), rate=500), events=6_000, paced=False)
    assert_rollup_equals_truth(pipeline, warehouse, truth)
    before = warehouse.query(
        "SELECT event, sum(events) FROM events_per_minute GROUP BY event ORDER BY event"
    ).result_rows
    raw_before = warehouse.command("SELECT count() FROM events")

    with replaying_loader(pipeline, "pulse-replay-test") as replaying:
        deadline = time.monotonic() + 90
        metrics: dict[str, float] = {}
        while time.monotonic() < deadline:
            time.sleep(1.0)
            metrics = loader_metrics(replaying)
            lags = [v for k, v in metrics.items() if k.startswith("pulse_loader_lag_messages")]
            if lags and not any(lags) and metrics.get('pulse_loader_batches_total{kind="rebuild"}', 0) > 0:
                break
        else:
            pytest.fail(f"the replaying loader did not catch up: {metrics}")
        assert metrics.get('pulse_loader_batches_total{kind="new"}', 0) == 0, (
            "a replay must only rebuild planned ranges"
        )
        after = warehouse.query(
            "SELECT event, sum(events) FROM events_per_minute GROUP BY event ORDER BY event"
        ).result_rows
        assert after == before
        assert warehouse.command("SELECT count() FROM events") == raw_before
