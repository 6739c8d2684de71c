"""Shared helpers of the tier tests: traffic near the wall clock, delivery, and the package's reconciliation checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from pulse.chaos.reconcile import archive_coverage as archive_coverage
from pulse.chaos.reconcile import archive_problems, metric_sum
from pulse.chaos.reconcile import archived_through as archived_through
from pulse.chaos.reconcile import end_offsets as end_offsets
from pulse.chaos.reconcile import wait_for as wait_for
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.generator.truth import TruthReport
from pulse.settings import Settings
from tests.support.pipeline import collector_url


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


def assert_every_offset_archived_once(settings: Settings, end_offsets: dict[tuple[str, int], int]) -> None:
    """Ranges of each partition tile [0, end) exactly: no gap, no overlap."""
    problems = archive_problems(settings, end_offsets)
    assert not problems, "; ".join(problems[:5])
