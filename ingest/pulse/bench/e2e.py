"""`pulse bench e2e`: sustained stored events/s and event -> dashboard freshness, measured.

Sends paced generated traffic (event timestamps follow the wall clock) through the collector,
waits until the warehouse holds every acknowledged event, then reads the figures from the rows
themselves: ``received_at`` (collector), ``stored_at`` (the insert that also updated the rollups).
Beside them, what each process of the run cost: CPU-seconds per 1,000 stored events (from /proc,
so the figures survive a loaded machine better than wall time), and the warehouse's inserts and
parts written per second (``system.events``: chDB keeps no ``system.part_log``).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from pulse.bench.cpu import sample, spent
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

#: Every process of the local pipeline whose CPU a run reports (stack services, then pipeline services).
COMPONENTS = ("collector", "kafka", "loader", "warehouse", "hot", "archiver", "redis", "s3")

#: The warehouse's cumulative counters a run reads before and after (all tables, rollups included).
WAREHOUSE_COUNTERS = """
SELECT event, value FROM system.events
WHERE event IN ('InsertQuery', 'InsertedRows', 'MergeTreeDataWriterBlocks', 'MergeTreeDataWriterRows', 'Merge')
"""


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
    #: CPU-seconds per 1,000 stored events, per process (``generator``: this benchmark, sending).
    cpu_s_per_1k_collector: float
    cpu_s_per_1k_kafka: float
    cpu_s_per_1k_loader: float
    cpu_s_per_1k_warehouse: float
    cpu_s_per_1k_hot: float
    cpu_s_per_1k_archiver: float
    cpu_s_per_1k_redis: float
    cpu_s_per_1k_s3: float
    cpu_s_per_1k_generator: float
    #: Every process but the generator.
    cpu_s_per_1k_pipeline: float
    #: Over the measured span (send + drain): insert queries, MergeTree parts written (rollups
    #: included) and merges started, per second.
    warehouse_inserts_per_s: float
    warehouse_parts_per_s: float
    warehouse_merges_per_s: float
    measured_s: float
    load_average_before: float
    load_average_after: float


def _count(client: Client, source: str) -> int:
    return int(
        client.query(
            "SELECT count() FROM events WHERE source = {source:String}", parameters={"source": source}
        ).result_rows[0][0]
    )


def _warehouse_counters(client: Client) -> dict[str, int]:
    return {str(name): int(value) for name, value in client.query(WAREHOUSE_COUNTERS).result_rows}


def _component_pids(settings: Settings) -> dict[str, int]:
    """The pid (process-group leader) of every running component this machine supervises."""
    from pulse.pipeline.services import supervisor_for

    supervisor = supervisor_for(settings)
    states = {name: supervisor.state(name) for name in COMPONENTS}
    return {name: state.pid for name, state in states.items() if state.running and state.pid is not None}


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
    pids = _component_pids(settings)
    load_before = os.getloadavg()[0]
    counters_before = _warehouse_counters(client)
    cpu_before = sample(pids)
    began = time.monotonic()
    concurrency = max(4, min(32, int(rate // 2_000) + 4))
    truth = asyncio.run(send(generator, url, write_key, seconds=seconds, paced=True, concurrency=concurrency))
    sent_s = time.monotonic() - began
    deadline = time.monotonic() + timeout_s
    while _count(client, source) < truth.events and time.monotonic() < deadline:
        time.sleep(0.2)
    drain_s = time.monotonic() - began - sent_s
    cpu = spent(cpu_before, sample(pids))
    measured_s = time.monotonic() - began
    counters = _warehouse_counters(client)
    delta = {name: counters.get(name, 0) - counters_before.get(name, 0) for name in counters}
    row = client.query(RUN_FIGURES, parameters={"source": source}).result_rows[0]
    stored, distinct, span_s, freshness, to_collector, to_stored = row
    per_1k = {name: round(seconds * 1000 / max(int(stored), 1), 4) for name, seconds in cpu.items()}
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
        **{f"cpu_s_per_1k_{name}": per_1k.get(name, 0.0) for name in (*COMPONENTS, "generator")},
        cpu_s_per_1k_pipeline=round(sum(value for name, value in per_1k.items() if name != "generator"), 4),
        warehouse_inserts_per_s=round(delta.get("InsertQuery", 0) / measured_s, 2),
        warehouse_parts_per_s=round(delta.get("MergeTreeDataWriterBlocks", 0) / measured_s, 2),
        warehouse_merges_per_s=round(delta.get("Merge", 0) / measured_s, 2),
        measured_s=round(measured_s, 2),
        load_average_before=round(load_before, 2),
        load_average_after=round(os.getloadavg()[0], 2),
    )
