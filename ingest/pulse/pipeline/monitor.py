"""What the pipeline looks like right now: stored events, consumer lag and freshness.

Freshness is measured where staff see it: from the event's time to the moment its row (and,
in the same insert, its rollup rows) became visible in the warehouse (`stored_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from clickhouse_connect.driver.client import Client
from prometheus_client.parser import text_string_to_metric_families

from pulse.settings import Settings

STORED_EVENTS = "SELECT count() FROM events"
RECENT_FRESHNESS = """
SELECT
    count() AS rows,
    quantile(0.5)(dateDiff('millisecond', event_time, stored_at)) AS p50_ms,
    quantile(0.99)(dateDiff('millisecond', event_time, stored_at)) AS p99_ms
FROM events
WHERE stored_at >= now64(3) - toIntervalSecond({window_s:UInt32})
"""
DEAD_LETTERS = "SELECT count() FROM loader_dead_letters"


@dataclass(frozen=True)
class Snapshot:
    stored: int
    lag: int | None
    freshness_p50_ms: float | None
    freshness_p99_ms: float | None
    loader_dead_letters: int


def metric_total(url: str, name: str, timeout_s: float = 2.0) -> float:
    """One metric of a Prometheus ``/metrics`` page, summed over its labels (0 when absent)."""
    text = httpx.get(url, timeout=timeout_s).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def loader_lag(settings: Settings) -> int | None:
    """Sum of the loader's per-partition lag, from its own /metrics; None if it cannot be read."""
    url = f"http://{settings.stack.host}:{settings.loader.metrics_port}/metrics"
    try:
        return int(metric_total(url, "pulse_loader_lag_messages", timeout_s=1.0))
    except httpx.HTTPError:
        return None


def snapshot(client: Client, settings: Settings, window_s: int = 10) -> Snapshot:
    stored = int(client.command(STORED_EVENTS))  # type: ignore[arg-type]
    rows, p50, p99 = client.query(RECENT_FRESHNESS, parameters={"window_s": window_s}).result_rows[0]
    dead = int(client.command(DEAD_LETTERS))  # type: ignore[arg-type]
    return Snapshot(
        stored=stored,
        lag=loader_lag(settings),
        freshness_p50_ms=float(p50) if rows else None,
        freshness_p99_ms=float(p99) if rows else None,
        loader_dead_letters=dead,
    )
