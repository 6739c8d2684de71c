"""Pulse — pipeline health: ingest, rejects, lag, freshness, ClickHouse, Kafka brokers, Redis, archiver.

Prometheus panels use only metric names the services and stores serve (tests/observability runs each on a
real Prometheus): the workers' ``pulse_*``, the brokers' JMX exporter rules (``kafka_*``), ClickHouse's own
``ClickHouse*`` names (a server's endpoint, or the chDB bridge serving the same), Redis's health as the hot
updater probes it (``pulse_redis_*``). ClickHouse panels read the freshness named query and the system tables.
"""

from __future__ import annotations

import grafanalib.core as g

from pulse.grafana.alerting import Rule, runbook_url
from pulse.grafana.named import Use
from pulse.grafana.panels import FORMAT_TIME_SERIES, Link, PanelSpec, Row, dashboard_url, rate
from pulse.grafana.panels import dashboard as pulse_dashboard

from ..alerts.components import KAFKA_DOWN, REDIS_DOWN, REDIS_UP, WAREHOUSE_DOWN
from ..alerts.consumers import CONSUMER_LAG
from ..alerts.kafka import OFFLINE, OFFLINE_PARTITIONS, UNDER_REPLICATED, UNDER_REPLICATED_PARTITIONS
from ..alerts.pipeline import FRESHNESS, REJECT_RATE
from ..alerts.warehouse import DISK_FREE_MIN, DISK_LOW, FREE_SHARE
from ..config import (
    CONSUMER_LAG_MAX,
    FRESHNESS_MAX_S,
    FRESHNESS_WARN_S,
    JOBS,
    PIPELINE_HEALTH_UID,
    RUNBOOKS,
    UNIFIED_UID,
)

UID = PIPELINE_HEALTH_UID
TITLE = "Pulse — pipeline health"


def runbook(title: str, rule: Rule) -> tuple[str, str]:
    """A panel link to the runbook section of the rule alerting on what the panel shows."""
    return f"Runbook: {title}", runbook_url(RUNBOOKS, rule.title)


def targets_up(job: str) -> str:
    """Targets of ``job`` answering their scrapes (0 when none does)."""
    return f'sum(up{{job="{job}"}}) or vector(0)'


def up_stat(title: str, description: str, expr: str, link: tuple[str, str], width: int = 6) -> PanelSpec:
    """The stat each component row opens with: red while no target answers, linked to its down alert's runbook."""
    return PanelSpec(
        "stat",
        title,
        description,
        prom=[(expr, "up")],
        unit="short",
        thresholds=UP_COLOURS,
        width=width,
        height=6,
        links=[link],
    )


def problem_stat(
    title: str, description: str, target: tuple[str, str], colour: str, link: tuple[str, str]
) -> PanelSpec:
    """A count of something wrong (green at zero, ``colour`` from one), linked to the runbook of its alert."""
    return PanelSpec(
        "stat",
        title,
        description,
        prom=[target],
        unit="short",
        thresholds=(("green", None), (colour, 1)),
        width=4,
        height=6,
        links=[link],
    )


def series(title: str, description: str, *prom: tuple[str, str], unit: str = "short", width: int = 6) -> PanelSpec:
    """A component row's Prometheus time series: one call per panel instead of a repeated block."""
    return PanelSpec("timeseries", title, description, prom=list(prom), unit=unit, width=width, height=6)


#: Red while none answers, green from one.
UP_COLOURS = (("red", None), ("green", 1))
HOT = f'{{job="{JOBS["hot-layer"]}"}}'
BROKERS = f'{{job="{JOBS["kafka"]}"}}'
ENGINE = f'{{job="{JOBS["warehouse"]}"}}'


INGEST = Row(
    "Ingest",
    [
        PanelSpec(
            "timeseries",
            "Accepted events/s by type",
            "Events the collectors accepted, per event type.",
            prom=[rate("pulse_collector_events_accepted_total", "{{event}}", by="event")],
            unit="short",
            width=12,
            links=[("Unified dashboard", dashboard_url(UNIFIED_UID))],
        ),
        PanelSpec(
            "timeseries",
            "Rejected events/s by reason",
            "Events rejected by the collectors, per reason.",
            prom=[rate("pulse_collector_events_rejected_total", "{{reason}}", by="reason")],
            unit="short",
            thresholds=(("green", None), ("red", 1)),
            width=12,
            links=[runbook("rejects", REJECT_RATE)],
        ),
        PanelSpec(
            "timeseries",
            "Collector latency p99",
            "99th percentile of request and Kafka produce time.",
            prom=[
                (
                    "histogram_quantile(0.99, sum by (le) (rate(pulse_collector_request_duration_seconds_bucket"
                    "[$__rate_interval])))",
                    "request",
                ),
                (
                    "histogram_quantile(0.99, sum by (le) (rate(pulse_collector_produce_duration_seconds_bucket"
                    "[$__rate_interval])))",
                    "produce",
                ),
            ],
            unit="s",
            width=12,
        ),
        PanelSpec(
            "timeseries",
            "Rows loaded/s by topic",
            "Rows the loader inserted into ClickHouse, per topic.",
            prom=[rate("pulse_loader_rows_total", "{{topic}}", by="topic")],
            unit="short",
            width=12,
        ),
    ],
)

LAG = Row(
    "Lag and freshness",
    [
        PanelSpec(
            "stat",
            "Freshness",
            f"Seconds since the newest stored event (objective: at most {FRESHNESS_MAX_S} s).",
            Use("ingest_freshness", select="seconds_since_last_event"),
            unit="s",
            thresholds=(("green", None), ("orange", FRESHNESS_WARN_S), ("red", FRESHNESS_MAX_S)),
            width=6,
            height=6,
            links=[runbook("freshness", FRESHNESS)],
        ),
        PanelSpec(
            "stat",
            "Stored last minute",
            "Events stored in the last 60 seconds.",
            Use("ingest_freshness", select="events_last_minute"),
            unit="short",
            width=6,
            height=6,
        ),
        PanelSpec(
            "timeseries",
            "Consumer lag (messages)",
            "Kafka lag of the loader, hot-tier and archiver groups.",
            prom=[
                ("sum by (topic) (pulse_loader_lag_messages)", "loader {{topic}}"),
                ("sum by (topic) (pulse_hot_lag_messages)", "hot {{topic}}"),
                ("sum by (topic) (pulse_archive_lag_messages)", "archive {{topic}}"),
            ],
            unit="short",
            thresholds=(("green", None), ("red", CONSUMER_LAG_MAX)),
            width=12,
            height=6,
            links=[runbook("lag", CONSUMER_LAG)],
        ),
        series(
            "Loader errors",
            "Write errors and dead letters per second.",
            rate("pulse_loader_write_errors_total", "write errors", job=JOBS["loader"]),
            rate("pulse_loader_dead_letters_total", "dead letters"),
            width=12,
        ),
        series(
            "Archiver",
            "Parquet files and bytes written per second; archive errors.",
            rate("pulse_archive_files_total", "files"),
            rate("pulse_archive_errors_total", "errors", job=JOBS["archiver"]),
            width=12,
        ),
    ],
)

CLICKHOUSE = Row(
    "ClickHouse",
    [
        PanelSpec(
            "timeseries",
            "Stored events per minute",
            "Events stored per minute by the loader (stored_at).",
            sql="""
SELECT $__timeInterval(stored_at) AS time, count() AS events
FROM events
WHERE $__timeFilter(stored_at)
GROUP BY time
ORDER BY time""",
            fmt=FORMAT_TIME_SERIES,
            interval="1m",
            unit="short",
            width=12,
        ),
        PanelSpec(
            "table",
            "Rejected events by reason",
            "The collector's dead letters in the range, by reason code.",
            sql="""
SELECT reason_code, count() AS events, max(failed_at) AS last_seen
FROM rejected_events
WHERE $__timeFilter(failed_at)
GROUP BY reason_code
ORDER BY events DESC""",
            unit="short",
            width=12,
        ),
        PanelSpec(
            "bargauge",
            "Active parts per table",
            "Active data parts per table (too many parts slows inserts).",
            sql="""
SELECT table, count() AS parts
FROM system.parts
WHERE active AND database = currentDatabase()
GROUP BY table
ORDER BY parts DESC
LIMIT 15""",
            unit="short",
            thresholds=(("green", None), ("orange", 300), ("red", 1000)),
            width=12,
        ),
        PanelSpec(
            "table",
            "Running merges",
            "Merges in progress, with progress and size.",
            sql="""
SELECT table, round(elapsed, 1) AS elapsed_s, round(progress, 3) AS progress, num_parts,
       formatReadableSize(total_size_bytes_compressed) AS size
FROM system.merges
WHERE database = currentDatabase()
ORDER BY elapsed DESC""",
            unit="short",
            width=12,
        ),
    ],
)

REDIS = Row(
    "Redis",
    [
        up_stat(
            "Redis up",
            "Whether the hot updater's last INFO of Redis succeeded (it probes every second).",
            f"min({REDIS_UP})",
            runbook("Redis down", REDIS_DOWN),
        ),
        series(
            "Redis memory used and clients",
            "used_memory and connected_clients from INFO, as the hot updater reads them.",
            (f"max(pulse_redis_memory_used_bytes{HOT})", "memory (bytes)"),
            (f"max(pulse_redis_connected_clients{HOT})", "clients"),
        ),
        PanelSpec(
            "timeseries",
            "Redis evicted keys/s",
            "Keys Redis evicted under maxmemory: the hot layer loses counters (INFO evicted_keys).",
            prom=[rate(f"pulse_redis_evicted_keys_total{HOT}", "evicted")],
            unit="short",
            thresholds=(("green", None), ("red", 1)),
            width=12,
            height=6,
        ),
        PanelSpec(
            "stat",
            "Redis memory",
            "Memory used by the hot tier's Redis (INFO memory).",
            redis=("info", "", {"section": "memory"}),
            unit="bytes",
            width=12,
            height=6,
        ),
        series(
            "Hot-tier updates/s",
            "Events applied to the hot tier per second.",
            rate("pulse_hot_updates_total", "updates"),
            rate("pulse_hot_errors_total", "errors", job=JOBS["hot-layer"]),
            width=12,
        ),
    ],
)


WAREHOUSE = Row(
    "Warehouse (ClickHouse's Prometheus endpoint)",
    [
        up_stat(
            "Warehouse up",
            "ClickHouse targets answering Prometheus.",
            targets_up(JOBS["warehouse"]),
            runbook("warehouse down", WAREHOUSE_DOWN),
        ),
        PanelSpec(
            "stat",
            "Warehouse disk free",
            f"Share of the data disk free (red below {DISK_FREE_MIN:.0%}, where merges and then inserts fail).",
            prom=[(FREE_SHARE, "{{instance}}")],
            unit="percentunit",
            thresholds=(("red", None), ("orange", DISK_FREE_MIN), ("green", 2 * DISK_FREE_MIN)),
            width=6,
            height=6,
            links=[runbook("warehouse disk low", DISK_LOW)],
        ),
        series(
            "Warehouse queries/s",
            "Queries started and failed per second (ClickHouse profile events Query, FailedQuery).",
            rate(f"ClickHouseProfileEvents_Query{ENGINE}", "queries"),
            rate(f"ClickHouseProfileEvents_FailedQuery{ENGINE}", "failed"),
        ),
        series(
            "Warehouse inserted rows/s",
            "Rows inserted into any table per second (profile event InsertedRows).",
            rate(f"ClickHouseProfileEvents_InsertedRows{ENGINE}", "rows"),
        ),
        series(
            "Warehouse running queries and memory",
            "Queries executing now and memory the engine tracks (ClickHouse metrics Query, MemoryTracking).",
            (f"sum(ClickHouseMetrics_Query{ENGINE})", "running queries"),
            (f"sum(ClickHouseMetrics_MemoryTracking{ENGINE})", "memory (bytes)"),
        ),
    ],
)

KAFKA = Row(
    "Kafka brokers",
    [
        up_stat(
            "Brokers up",
            "Kafka brokers and controllers whose JMX exporter answers Prometheus.",
            targets_up(JOBS["kafka"]),
            runbook("Kafka down", KAFKA_DOWN),
            width=4,
        ),
        problem_stat(
            "Offline partitions",
            "Partitions without a leader (the active controller's count).",
            (OFFLINE, "offline"),
            "red",
            runbook("offline partitions", OFFLINE_PARTITIONS),
        ),
        problem_stat(
            "Under-replicated partitions",
            "Partitions with fewer in-sync replicas than replicas (each leader's count).",
            (UNDER_REPLICATED, "under-replicated"),
            "orange",
            runbook("under-replicated partitions", UNDER_REPLICATED_PARTITIONS),
        ),
        series(
            "Broker bytes in/out",
            "Bytes per second clients produced to and fetched from the brokers.",
            rate(f"kafka_server_brokertopicmetrics_bytesin_total{BROKERS}", "in"),
            rate(f"kafka_server_brokertopicmetrics_bytesout_total{BROKERS}", "out"),
            unit="Bps",
        ),
        series(
            "Broker request time p99",
            "99th percentile of request received to response sent, slowest broker, per request type.",
            (
                f'max by (request) (kafka_network_requestmetrics_totaltimems{{job="{JOBS["kafka"]}",'
                f' quantile="0.99"}})',
                "{{request}}",
            ),
            unit="ms",
        ),
    ],
)


def dashboard() -> g.Dashboard:
    return pulse_dashboard(
        uid=UID,
        title=TITLE,
        description="Health of every Pulse component: collectors, Kafka, loader, ClickHouse, Redis, archiver.",
        tags=("pulse", "platform"),
        refresh="30s",
        rows=(INGEST, LAG, CLICKHOUSE, WAREHOUSE, KAFKA, REDIS),
        links=(Link(title="Unified dashboard", uid=UNIFIED_UID, tooltip="business metrics"),),
    )
