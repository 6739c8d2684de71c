"""Pulse — pipeline health: ingest, rejects, lag, freshness, ClickHouse parts/merges, Redis, archiver.

Prometheus panels use only metric names the services register (a test checks them against the
code); ClickHouse panels read the freshness named query and the system tables.
"""

from __future__ import annotations

import grafanalib.core as g

from pulse.grafana.named import Use
from pulse.grafana.panels import FORMAT_TIME_SERIES, SCHEMA_VERSION, PanelSpec, Row, build_panels

UID = "pulse-pipeline-health"
TITLE = "Pulse — pipeline health"
RUNBOOKS = "https://github.com/pulse/pulse/blob/main/docs/runbooks.md"
UNIFIED = "/d/pulse-unified/pulse-unified?${__url_time_range}"

INGEST = Row(
    "Ingest",
    [
        PanelSpec(
            "timeseries",
            "Accepted events/s by type",
            "Events the collectors accepted, per event type.",
            prom=[("sum by (event) (rate(pulse_collector_events_accepted_total[$__rate_interval]))", "{{event}}")],
            unit="short",
            width=12,
            links=[("Unified dashboard", UNIFIED)],
        ),
        PanelSpec(
            "timeseries",
            "Rejected events/s by reason",
            "Events rejected by the collectors, per reason.",
            prom=[("sum by (reason) (rate(pulse_collector_events_rejected_total[$__rate_interval]))", "{{reason}}")],
            unit="short",
            thresholds=(("green", None), ("red", 1)),
            width=12,
            links=[("Runbook: rejects", f"{RUNBOOKS}#pulserejectratehigh")],
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
            prom=[("sum by (topic) (rate(pulse_loader_rows_total[$__rate_interval]))", "{{topic}}")],
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
            "Seconds since the newest stored event (objective: at most 5 s).",
            Use("ingest_freshness", select="seconds_since_last_event"),
            unit="s",
            thresholds=(("green", None), ("orange", 3), ("red", 5)),
            width=6,
            height=6,
            links=[("Runbook: freshness", f"{RUNBOOKS}#pulsefreshnesshigh")],
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
            thresholds=(("green", None), ("red", 100000)),
            width=12,
            height=6,
            links=[("Runbook: lag", f"{RUNBOOKS}#pulseconsumerlaghigh")],
        ),
        PanelSpec(
            "timeseries",
            "Loader errors",
            "Write errors and dead letters per second.",
            prom=[
                ("sum(rate(pulse_loader_write_errors_total[$__rate_interval]))", "write errors"),
                ("sum(rate(pulse_loader_dead_letters_total[$__rate_interval]))", "dead letters"),
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
                ("sum(rate(pulse_archive_files_total[$__rate_interval]))", "files"),
                ("sum(rate(pulse_archive_errors_total[$__rate_interval]))", "errors"),
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
                ("sum(rate(pulse_hot_updates_total[$__rate_interval]))", "updates"),
                ("sum(rate(pulse_hot_errors_total[$__rate_interval]))", "errors"),
            ],
            unit="short",
            width=12,
            height=6,
        ),
    ],
)


def dashboard() -> g.Dashboard:
    return g.Dashboard(
        title=TITLE,
        uid=UID,
        description="Health of every Pulse component: collectors, Kafka lag, loader, ClickHouse, Redis, archiver.",
        tags=["pulse", "platform"],
        timezone="utc",
        schemaVersion=SCHEMA_VERSION,
        refresh="30s",
        time=g.Time("now-1h", "now"),
        templating=g.Templating([]),
        panels=build_panels([INGEST, LAG, CLICKHOUSE, REDIS]),
        links=[
            g.DashboardLink(
                title="Unified dashboard",
                type="link",
                uri=UNIFIED,
                keepTime=True,
                includeVars=False,
                icon="dashboard",
                tags=[],
                targetBlank=False,
                tooltip="business metrics",
            )
        ],
    )
