"""Pulse — pipeline health: ingest, rejects, lag, freshness, ClickHouse parts/merges, Redis, archiver.

Prometheus panels use only metric names the services register (a test checks them against the
code); ClickHouse panels read the freshness named query and the system tables.
"""

from __future__ import annotations

import grafanalib.core as g

from pulse.grafana.alerting import Rule, runbook_url
from pulse.grafana.named import Use
from pulse.grafana.panels import FORMAT_TIME_SERIES, Link, PanelSpec, Row, dashboard_url, rate
from pulse.grafana.panels import dashboard as pulse_dashboard

from ..alerts.consumers import CONSUMER_LAG
from ..alerts.pipeline import FRESHNESS, REJECT_RATE
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
        PanelSpec(
            "timeseries",
            "Loader errors",
            "Write errors and dead letters per second.",
            prom=[
                rate("pulse_loader_write_errors_total", "write errors", job=JOBS["loader"]),
                rate("pulse_loader_dead_letters_total", "dead letters"),
            ],
            unit="short",
            width=12,
            height=6,
        ),
        PanelSpec(
            "timeseries",
            "Archiver",
            "Parquet files and bytes written per second; archive errors.",
            prom=[
                rate("pulse_archive_files_total", "files"),
                rate("pulse_archive_errors_total", "errors", job=JOBS["archiver"]),
            ],
            unit="short",
            width=12,
            height=6,
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
        PanelSpec(
            "stat",
            "Redis memory",
            "Memory used by the hot tier's Redis (INFO memory).",
            redis=("info", "", {"section": "memory"}),
            unit="bytes",
            width=12,
            height=6,
        ),
        PanelSpec(
            "timeseries",
            "Hot-tier updates/s",
            "Events applied to the hot tier per second.",
            prom=[
                rate("pulse_hot_updates_total", "updates"),
                rate("pulse_hot_errors_total", "errors", job=JOBS["hot-layer"]),
            ],
            unit="short",
            width=12,
            height=6,
        ),
    ],
)


def dashboard() -> g.Dashboard:
    return pulse_dashboard(
        uid=UID,
        title=TITLE,
        description="Health of every Pulse component: collectors, Kafka lag, loader, ClickHouse, Redis, archiver.",
        tags=("pulse", "platform"),
        refresh="30s",
        rows=(INGEST, LAG, CLICKHOUSE, REDIS),
        links=(Link(title="Unified dashboard", uid=UNIFIED_UID, tooltip="business metrics"),),
    )
