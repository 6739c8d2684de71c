"""Alert rules as provisioned: each anomaly rule's data chain (SQL on the engine, then Grafana's
expressions) stays quiet on normal generated traffic and fires once a synthetic anomaly is injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.grafana.emulation.demo import load_traffic
from pulse.grafana.emulation.macros import QueryContext, TimeRange, expand_macros
from tests.support.grafana_expressions import evaluate_rule
from tests.support.provisioning import provisioned_rule

WINDOW = timedelta(minutes=15)
# Twelve days back, so no other test's traffic falls into the current window or its baseline.
ANCHOR = (datetime.now(UTC) - timedelta(days=12)).replace(second=0, microsecond=0)
INTERACTIONS = "('view', 'like', 'comment', 'share', 'save', 'follow', 'profile_visit', 'post_created')"


def rule(uid: str) -> dict[str, Any]:
    """The rule read from the committed file the way Grafana reads it."""
    return provisioned_rule(uid)


def firing(client: Client, uid: str) -> bool:
    states = evaluate_rule(rule(uid), client, int(ANCHOR.timestamp() * 1000))
    assert states, f"{uid}: no series"
    return any(states.values())


def detail(client: Client, uid: str) -> str:
    step = rule(uid)["data"][0]
    now_ms = int(ANCHOR.timestamp() * 1000)
    window = TimeRange(now_ms - step["relativeTimeRange"]["from"] * 1000, now_ms)
    raw = step["model"]["rawSql"].replace("SELECT z\nFROM", "SELECT *\nFROM", 1)
    sql = expand_macros(raw, QueryContext(window, 1000))
    return str(client.query(sql).result_rows)


@pytest.fixture(scope="module")
def baseline(client: Client) -> Client:
    """The same 15 minutes of day on 8 days (today + 7 baseline days), each its own seed."""
    for day in range(8):
        start = ANCHOR - WINDOW - timedelta(days=day)
        generator = TrafficGenerator(
            TrafficConfig(seed=300 + day, start=start, rate=8, users=1_500, posts=800, campaigns=4)
        )
        load_traffic(client, generator, events=int(WINDOW.total_seconds() * 8))
    return client


def inject(client: Client, where: str, copies: int, event: str | None = None) -> None:
    """Copies of the current window's matching events (new message ids), optionally as another event."""
    low, high = int((ANCHOR - WINDOW).timestamp() * 1000), int(ANCHOR.timestamp() * 1000)
    rename = f", '{event}' AS event" if event else ""
    client.command(f"""
        INSERT INTO events
        SELECT events.* REPLACE (concat(message_id, '-anomaly-', toString(copy)) AS message_id{rename})
        FROM events ARRAY JOIN range({copies}) AS copy
        WHERE event_time >= fromUnixTimestamp64Milli({low}) AND event_time < fromUnixTimestamp64Milli({high})
          AND {where}""")


def test_anomaly_rules_fire_only_on_injected_anomalies(baseline: Client) -> None:
    client = baseline
    uids = ("pulse-anomaly-engagement", "pulse-anomaly-ctr", "pulse-anomaly-conversions")
    assert [firing(client, uid) for uid in uids] == [False, False, False], "normal traffic must not alarm"

    inject(client, f"event IN {INTERACTIONS}", 1)  # engagement doubles
    assert [firing(client, uid) for uid in uids] == [True, False, False]

    # three in ten impressions also clicked: CTR up by 0.3. The baseline days' CTR deviates by up to
    # 0.025 (clicks cluster by campaign), so +0.1 gave z of only 4.5-10 over 60 windows of day.
    inject(client, "events.event = 'ad_impression' AND cityHash64(events.message_id) % 10 < 3", 1, event="ad_click")
    assert firing(client, "pulse-anomaly-ctr")

    assert not firing(client, "pulse-anomaly-conversions")
    inject(client, "events.event = 'ad_impression' AND cityHash64(events.message_id) % 4 = 0", 1, event="conversion")
    assert firing(client, "pulse-anomaly-conversions"), detail(client, "pulse-anomaly-conversions")
