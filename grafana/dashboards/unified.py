"""Pulse — unified: engagement, trending topics and advertising on one screen, one filter bar.

Every panel names its query in the named query layer (``clickhouse/queries``); the variables
feed the queries' filter parameters, All meaning ``''``. Refreshes every 5 s (N3).
"""

from __future__ import annotations

import grafanalib.core as g

from pulse.grafana.named import Use, variable_value
from pulse.grafana.panels import (
    FORMAT_TIME_SERIES,
    Link,
    PanelSpec,
    Row,
    explore_use,
    hidden,
    query_variable,
    unit_override,
)
from pulse.grafana.panels import dashboard as pulse_dashboard
from pulse.hot.keys import DEFAULT_KEYS

from ..config import BUDGET_PACING_MAX, PIPELINE_HEALTH_UID, UNIFIED_UID

UID = UNIFIED_UID
TITLE = "Pulse — unified"
FILTERS = {"country": "country", "device_type": "device_type", "segment": "segment", "category": "category"}


def _filters(*names: str, **extra: str) -> dict[str, str]:
    chosen = {k: v for k, v in FILTERS.items() if k in names}
    chosen.update(extra)
    return chosen


def funnel(name: str, *, journey: str, steps: str) -> PanelSpec:
    """A journey of the ``funnel`` query: users of the last hour reaching each step within an hour."""
    return PanelSpec(
        "barchart",
        f"{name} funnel (last hour)",
        f"Users of the last hour reaching {steps} within an hour (raw events: one hour whatever the range).",
        Use("funnel", _filters("country", "device_type"), fixed={"journey": journey}, select="name, users"),
        time_from="1h",
        unit="short",
        width=8,
        height=8,
    )


def trending(title: str, description: str, *, kind: str, min_mentions: int) -> PanelSpec:
    """The ``trending_topics`` table of one kind of term, in the selected region."""
    return PanelSpec(
        "table",
        title,
        description,
        Use("trending_topics", {"region": "region"}, fixed={"kind": kind, "min_mentions": min_mentions}),
        unit="short",
        width=12,
        height=9,
    )


ENGAGEMENT = Row(
    "User engagement",
    [
        PanelSpec(
            "timeseries",
            "Events per second (live)",
            "Stored events per second over the last 5 minutes.",
            Use("events_per_second", _filters("country", "device_type")),
            fmt=FORMAT_TIME_SERIES,
            unit="short",
            time_from="5m",
            width=12,
            height=7,
        ),
        PanelSpec(
            "stat",
            "Active users",
            "DAU, WAU, MAU of the day the range ends, and stickiness (DAU/MAU).",
            Use("active_users", _filters("country", "device_type", "segment")),
            unit="short",
            width=12,
            height=7,
            field_overrides=[
                unit_override("stickiness", "percentunit"),
                hidden("day"),
            ],
        ),
        PanelSpec(
            "timeseries",
            "Events by type",
            "Events per interval, one series per event type.",
            Use(
                "engagement",
                _filters("country", "device_type", "segment", "category"),
                fixed={"by": "event"},
                select="time, key, events",
            ),
            fmt=FORMAT_TIME_SERIES,
            unit="short",
            interval="1m",
            width=12,
        ),
        PanelSpec(
            "timeseries",
            "Engagement score",
            "Weighted interactions per active user (like 1, comment/save 2, share/follow 3).",
            Use("engagement_score", _filters("country", "device_type", "segment", "category"), select="time, score"),
            fmt=FORMAT_TIME_SERIES,
            unit="none",
            interval="1m",
            width=12,
        ),
        PanelSpec(
            "stat",
            "Sessions (last hour)",
            "Sessions of the last hour (30-minute inactivity gap), bounce rate, mean duration. Raw events: the "
            "panel keeps to one hour whatever the dashboard range.",
            Use(
                "sessions",
                _filters("country", "device_type"),
                select="sessions, bounce_rate, mean_duration_s, mean_depth",
            ),
            time_from="1h",
            unit="short",
            width=8,
            height=6,
            field_overrides=[
                unit_override("bounce_rate", "percentunit"),
                unit_override("mean_duration_s", "s"),
            ],
        ),
        PanelSpec(
            "bargauge",
            "Events by country",
            "Events per country in the range (drill: pick a country).",
            Use("engagement_by_geo", {"country": "country"}, select="place, events"),
            unit="short",
            width=8,
            height=6,
            options={"reduceOptions": {"values": True, "calcs": [], "fields": "/^events$/"}},
        ),
        PanelSpec(
            "piechart",
            "Events by device",
            "Share of events per device type.",
            Use(
                "engagement",
                _filters("country", "segment", "category"),
                fixed={"by": "device_type"},
                select="key, sum(events) AS events",
                tail="GROUP BY key ORDER BY key",
            ),
            unit="short",
            width=8,
            height=6,
        ),
    ],
)

TRENDING = Row(
    "Trending topics",
    [
        trending(
            "Trending hashtags",
            "Hashtags whose 5-minute mentions rose significantly over the "
            "trailing hour (z-score, lift, velocity), spam-dampened.",
            kind="hashtag",
            min_mentions=5,
        ),
        trending(
            "Trending searches",
            "Search keywords of the last 5 minutes against the trailing hour.",
            kind="keyword",
            min_mentions=3,
        ),
        PanelSpec(
            "timeseries",
            "Hashtag mentions",
            "Mentions per interval of the 10 most mentioned hashtags of the range, in the selected region.",
            Use(
                "topic_mentions",
                {"region": "region"},
                fixed={"kind": "hashtag", "top": 10},
                select="time, term, mentions",
            ),
            fmt=FORMAT_TIME_SERIES,
            unit="short",
            interval="1m",
            width=24,
        ),
    ],
)

CAMPAIGN_KPIS = Use(
    "ad_performance",
    _filters("country", "device_type", "segment", campaign_id="campaign"),
    fixed={"by": "campaign"},
)

ADVERTISING = Row(
    "Advertising",
    [
        PanelSpec(
            "stat",
            "Spend and return",
            "Spend, revenue and ROAS over the range, all campaigns or the chosen one.",
            Use(
                "ad_performance",
                _filters("country", "device_type", "segment", campaign_id="campaign"),
                fixed={"by": "campaign"},
                select="sum(spend_micros) / 1e6 AS spend, sum(revenue_micros) / 1e6 AS revenue, "
                "if(spend = 0, 0, revenue / spend) AS roas",
            ),
            unit="currencyUSD",
            width=8,
            height=6,
            field_overrides=[unit_override("roas", "none")],
        ),
        PanelSpec(
            "table",
            "Campaign KPIs",
            "Impressions, clicks, conversions, CTR, CVR, CPA and ROAS per campaign.",
            CAMPAIGN_KPIS,
            unit="short",
            width=16,
            height=6,
            field_overrides=[unit_override("^(ctr|cvr)$", "percentunit", regex=True)],
        ),
        PanelSpec(
            "bargauge",
            "Budget pacing",
            f"Spend today against a linear plan of the daily budget (1 = on plan; red above {BUDGET_PACING_MAX}).",
            Use("budget_pacing", select="campaign_id, pacing"),
            unit="percentunit",
            thresholds=(("blue", None), ("green", 0.8), ("orange", 1.1), ("red", BUDGET_PACING_MAX)),
            width=8,
            height=8,
            links=[("Campaign KPIs (Explore)", explore_use(CAMPAIGN_KPIS))],
        ),
        funnel("Ad", journey="ads", steps="impression -> click -> conversion"),
        funnel("Engagement", journey="engagement", steps="view -> like -> share"),
    ],
)

LIVE_REDIS = Row(
    "Live (hot tier)",
    [
        PanelSpec(
            "stat",
            "Last 5 minutes (Redis)",
            f"Counters of the last 5 minutes from the hot tier ({DEFAULT_KEYS.window(5)}).",
            redis=("hgetall", DEFAULT_KEYS.window(5), {}),
            unit="short",
            width=12,
            height=6,
        ),
        PanelSpec(
            "bargauge",
            "Trending hashtags now (Redis)",
            f"Decayed 5-minute scores ({DEFAULT_KEYS.trending('hashtags', 5)}).",
            redis=("zrange", DEFAULT_KEYS.trending("hashtags", 5), {"min": "-10", "max": "-1"}),
            unit="short",
            width=12,
            height=6,
        ),
    ],
)


#: History older than the warehouse's 30 days, read in place from the S3 Parquet archive through the
#: ``pulse_archive`` named collection (docs/archive.md). Collapsed: Grafana queries a collapsed row's
#: panels only once it is opened, so the dashboard's 5 s refresh never lists the bucket unasked.
ARCHIVE_HISTORY = Row(
    "History (S3 archive)",
    [
        PanelSpec(
            "timeseries",
            "Events per day by type (archive)",
            "Events per event-time day and type, read from the S3 archive (day folders of the range only): "
            "widen the time range for history past the warehouse's 30 days. Admin only.",
            Use("archive_events_per_day", select="toDateTime(day) AS time, event, events"),
            fmt=FORMAT_TIME_SERIES,
            unit="short",
            interval="1d",
            width=12,
        ),
        PanelSpec(
            "timeseries",
            "Daily active users (archive)",
            "Exact daily active users (user id, else anonymous id), read from the S3 archive. Admin only.",
            Use("archive_active_users_per_day", select="toDateTime(day) AS time, dau"),
            fmt=FORMAT_TIME_SERIES,
            unit="short",
            interval="1d",
            width=12,
        ),
    ],
    collapsed=True,
)


def variables() -> list[g.Template]:
    dims = "SELECT DISTINCT {col} FROM engagement_per_minute WHERE bucket >= now() - INTERVAL 1 DAY ORDER BY {col}"
    return [
        query_variable("country", "Country", dims.format(col="country")),
        query_variable(
            "region",
            "Region",
            "SELECT DISTINCT region FROM engagement_geo_per_minute "
            "WHERE bucket >= now() - INTERVAL 1 DAY AND "
            f"({variable_value('country')} = '' OR country = {variable_value('country')}) ORDER BY region",
        ),
        query_variable("device_type", "Device", dims.format(col="device_type")),
        query_variable("segment", "Segment", dims.format(col="segment")),
        query_variable("category", "Category", dims.format(col="category")),
        query_variable(
            "campaign",
            "Campaign",
            "SELECT DISTINCT campaign_id FROM ad_performance_per_minute "
            "WHERE bucket >= now() - INTERVAL 1 DAY ORDER BY campaign_id",
        ),
    ]


def dashboard() -> g.Dashboard:
    return pulse_dashboard(
        uid=UID,
        title=TITLE,
        description="Engagement, trending topics and advertising for the social network, from ClickHouse rollups.",
        tags=("pulse", "business"),
        refresh="5s",
        rows=(ENGAGEMENT, TRENDING, ADVERTISING, LIVE_REDIS, ARCHIVE_HISTORY),
        links=(Link(title="Pipeline health", uid=PIPELINE_HEALTH_UID, tooltip="ingest, lag, freshness"),),
        variables=variables(),
    )
