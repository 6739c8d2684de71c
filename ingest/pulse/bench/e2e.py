"""`pulse bench e2e`: sustained stored events/s and event -> dashboard freshness, measured.

Sends paced generated traffic (event timestamps follow the wall clock) through the collector,
waits until the warehouse holds every acknowledged event, then reads the figures from the rows
themselves: ``received_at`` (collector), ``stored_at`` (the insert that also updated the rollups).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from pulse.collector.app import source_of_write_key
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.settings import Settings

RUN_FIGURES = """
SELECT
    count()                                                              AS stored,
    uniqExact(message_id)                                                AS distinct_messages,
    dateDiff('millisecond', min(stored_at), max(stored_at)) / 1000       AS storing_span_s,
    quantiles(0.5, 0.99)(dateDiff('millisecond', event_time, stored_at)) AS freshness_ms,
    quantiles(0.5, 0.99)(dateDiff('millisecond', event_time, received_at)) AS to_collector_ms,
    quantiles(0.5, 0.99)(dateDiff('millisecond', received_at, stored_at)) AS collector_to_stored_ms
FROM events
WHERE source = {source:String}
"""

#: The traffic clock starts this far ahead: building the synthetic population takes about a
#: second, and the paced sender waits for the wall clock, so event times stay honest.
POPULATION_BUILD_ALLOWANCE = timedelta(seconds=3)


@dataclass(frozen=True)
class E2EResult:
    offered_rate: float
    seconds: float
    acknowledged: int
    unacknowledged: int
    stored: int
    duplicates: int
    send_s: float
    drain_s: float
    sustained_stored_per_s: float
    freshness_p50_s: float
    freshness_p99_s: float
    to_collector_p50_s: float
    to_collector_p99_s: float
    collector_to_stored_p50_s: float
    collector_to_stored_p99_s: float


def _count(client: Client, source: str) -> int:
    return int(
        client.query(
            "SELECT count() FROM events WHERE source = {source:String}", parameters={"source": source}
        ).result_rows[0][0]
    )


def run_e2e(
    settings: Settings, client: Client, *, rate: float, seconds: float, seed: int, timeout_s: float = 300.0
) -> E2EResult:
    """Send for ``seconds`` at ``rate``, wait for the warehouse to hold it all, and measure."""
    write_key = f"wk_bench_{int(time.time() * 1000)}"
    source = source_of_write_key(write_key)
    generator = TrafficGenerator(
        TrafficConfig(seed=seed, start=datetime.now(UTC) + POPULATION_BUILD_ALLOWANCE, rate=rate)
    )
    url = f"http://{settings.collector.host}:{settings.collector.port}"
    began = time.monotonic()
    concurrency = max(4, min(32, int(rate // 2_000) + 4))
    truth = asyncio.run(send(generator, url, write_key, seconds=seconds, paced=True, concurrency=concurrency))
    sent_s = time.monotonic() - began
    deadline = time.monotonic() + timeout_s
    while _count(client, source) < truth.events and time.monotonic() < deadline:
        time.sleep(0.2)
    drain_s = time.monotonic() - began - sent_s
    row = client.query(RUN_FIGURES, parameters={"source": source}).result_rows[0]
    stored, distinct, span_s, freshness, to_collector, to_stored = row
    return E2EResult(
        offered_rate=rate,
        seconds=seconds,
        acknowledged=truth.events,
        unacknowledged=truth.unacknowledged.events,
        stored=int(stored),
        duplicates=int(stored) - int(distinct),
        send_s=round(sent_s, 2),
        drain_s=round(drain_s, 2),
        sustained_stored_per_s=round(int(stored) / max(float(span_s), 1e-3), 1),
        freshness_p50_s=freshness[0] / 1000,
        freshness_p99_s=freshness[1] / 1000,
        to_collector_p50_s=to_collector[0] / 1000,
        to_collector_p99_s=to_collector[1] / 1000,
        collector_to_stored_p50_s=to_stored[0] / 1000,
        collector_to_stored_p99_s=to_stored[1] / 1000,
    )
