"""A metric defined as code, end to end: ``story_view`` events sent by the real Segment SDK into the
running collector -> Kafka -> loader land in the generated rollups of ``metrics/stories.yaml`` (a count,
a uniq, a sum of a property, a ratio), which equal the ground truth at every grain; the generated panel
query returns it; the generated anomaly rule stays quiet on ordinary days and fires on an injected spike
(evaluated as Grafana does).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from pulse.grafana.dashboards import DASHBOARDS
from pulse.grafana.emulation.macros import TimeRange
from pulse.grafana.emulation.render import expand, resolve_variables
from pulse.grafana.generate import dashboard_json
from pulse.metrics.load import load_folder
from pulse.settings import Settings
from tests.support.collector import new_key
from tests.support.grafana_expressions import evaluate_rule
from tests.support.pipeline import collector_url, wait_loader_caught_up
from tests.support.provisioning import provisioned_rule

#: Hour-aligned, 15 days back (its baseline reaches 23 days, inside the 30-day raw and minute TTLs): the
#: pipeline tests compare whole minutes of days 1-4 against their truth, so story views there break them.
ANCHOR = (datetime.now(UTC) - timedelta(days=15)).replace(minute=0, second=0, microsecond=0)
WINDOW = timedelta(minutes=15)
COUNTRIES = ("DE", "FR", "BR")
RULE = "pulse-metric-story_views-anomaly"
#: The test's window only: other modules (tests/e2e/test_tracking.py) send story_view events near now.
IN_WINDOW = {"a": int((ANCHOR - timedelta(days=8)).timestamp()), "b": int(ANCHOR.timestamp())}

View = tuple[datetime, str, str]  # (event time, country, user)


def views(rng: random.Random, start: datetime, span: timedelta, count: int, users: int) -> list[View]:
    """``count`` views spread over ``start .. start+span``, mid-second so skew correction cannot cross a minute."""
    return [
        (
            start + timedelta(seconds=rng.randrange(int(span.total_seconds()) // 60) * 60 + rng.randint(15, 45)),
            rng.choice(COUNTRIES),
            f"u{rng.randrange(users)}",
        )
        for _ in range(count)
    ]


def send_with_segment(url: str, key: str, sent: Iterable[View]) -> int:
    """Through ``segment-analytics-python``, unchanged: its queue, batching, gzip and retries."""
    from segment.analytics import Client as Segment

    errors: list[Any] = []
    client = Segment(key, host=url, gzip=True, on_error=lambda e, _: errors.append(e), upload_size=100)
    n = 0
    for moment, country, user in sent:
        client.track(
            user_id=user,
            event="story_view",
            properties={"story_id": f"s{n % 7}", "duration_ms": duration_ms((moment, country, user))},
            context={"location": {"country": country}},
            timestamp=moment,
        )
        n += 1
    client.flush()
    client.shutdown()
    assert not errors, errors
    return n


def duration_ms(view: View) -> int:
    """The ``duration_ms`` property a view is sent with: known from the view, so the truth can sum it."""
    return 1000 + view[0].second * 10


def floor(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


def truth(sent: Iterable[View], seconds: int) -> tuple[Counter[tuple[datetime, str]], dict[tuple[datetime, str], int]]:
    """Views and distinct viewers per (bucket, country)."""
    counts: Counter[tuple[datetime, str]] = Counter()
    viewers: dict[tuple[datetime, str], set[str]] = defaultdict(set)
    for moment, country, user in sent:
        counts[floor(moment, seconds), country] += 1
        viewers[floor(moment, seconds), country].add(user)
    return counts, {k: len(v) for k, v in viewers.items()}


def rollup(
    warehouse: Client, table: str, value: str, start: datetime, end: datetime
) -> dict[tuple[datetime, str], int]:
    rows = warehouse.query(
        f"SELECT bucket, country, {value} FROM {table} "
        "WHERE bucket >= {a:DateTime} AND bucket < {b:DateTime} GROUP BY bucket, country",
        parameters={"a": int(start.timestamp()), "b": int(end.timestamp())},
    ).result_rows
    return {(b.replace(tzinfo=UTC), c): int(v) for b, c, v in rows}


@pytest.fixture(scope="module")
def sent(pipeline: Settings, warehouse: Client) -> list[View]:
    """Seven baseline days (the rule's 15 minutes of day, 30-50 views each) and two busy hours ending at ANCHOR."""
    before = warehouse.query(
        "SELECT count() FROM events WHERE event = 'story_view'"
        " AND event_time >= {a:DateTime} AND event_time < {b:DateTime}",
        parameters=IN_WINDOW,
    ).result_rows[0][0]
    assert before == 0, "story_view events already in the test window (a reused test home?)"
    rng = random.Random(14)
    traffic: list[View] = []
    for day in range(1, 8):
        traffic += views(rng, ANCHOR - timedelta(days=day) - WINDOW, WINDOW, rng.randint(30, 50), users=40)
    traffic += views(rng, ANCHOR - timedelta(hours=2), timedelta(hours=2) - WINDOW, 600, users=90)
    traffic += views(rng, ANCHOR - WINDOW, WINDOW, 40, users=40)  # the current window: an ordinary day
    key = asyncio.run(new_key(pipeline, "stories-app"))
    assert send_with_segment(collector_url(pipeline), key, traffic) == len(traffic)
    assert stored_views(pipeline, warehouse, len(traffic)) == len(traffic)
    return traffic


STORED = """
SELECT (SELECT count() FROM events
        WHERE event = 'story_view' AND event_time >= {a:DateTime} AND event_time < {b:DateTime}),
       (SELECT sum(story_views) FROM metric_story_views_per_minute
        WHERE bucket >= {a:DateTime} AND bucket < {b:DateTime}),
       (SELECT sum(story_views) FROM metric_story_views_per_hour
        WHERE bucket >= {a:DateTime} AND bucket < {b:DateTime})"""


def stored_views(pipeline: Settings, warehouse: Client, expected: int, timeout_s: float = 60) -> int:
    """story_view rows once the loader has caught up and ``expected`` are in ``events`` and both rollups.

    Observed here: right after ``wait_loader_caught_up`` the raw rows, and then the rollups' rows, could
    still be short (up to ~10% for a few seconds) -- so the tests wait for all three, then compare
    every cell; a rollup that never catches up fails them.
    """
    wait_loader_caught_up(pipeline)
    deadline = time.monotonic() + timeout_s
    while True:
        counts = [int(n or 0) for n in warehouse.query(STORED, parameters=IN_WINDOW).result_rows[0]]
        if min(counts) >= expected or time.monotonic() > deadline:
            return counts[0]
        time.sleep(0.5)


@pytest.mark.parametrize(("grain", "seconds"), [("minute", 60), ("hour", 3600)])
def test_generated_rollups_equal_the_ground_truth(
    warehouse: Client, sent: list[View], grain: str, seconds: int
) -> None:
    start, end = ANCHOR - timedelta(days=8), ANCHOR
    counts, viewers = truth(sent, seconds)
    raw = warehouse.query(
        f"SELECT toStartOfInterval(event_time, toIntervalSecond({seconds})) AS b, country, count(), "
        "uniqExact(user_id) FROM events WHERE event = 'story_view' "
        "AND event_time >= {a:DateTime} AND event_time < {b:DateTime} GROUP BY b, country",
        parameters=IN_WINDOW,
    ).result_rows
    assert {(b.replace(tzinfo=UTC), c): int(n) for b, c, n, _ in raw} == dict(counts), "stored events != sent"
    assert rollup(warehouse, f"metric_story_views_per_{grain}", "sum(story_views)", start, end) == dict(counts)
    got = rollup(warehouse, f"metric_story_viewers_per_{grain}", "uniqCombinedMerge(story_viewers)", start, end)
    assert got == viewers  # uniqCombined is exact at these sizes
    watched: Counter[tuple[datetime, str]] = Counter()
    for view in sent:
        watched[floor(view[0], seconds), view[1]] += duration_ms(view)
    assert rollup(warehouse, f"metric_story_watch_ms_per_{grain}", "sum(story_watch_ms)", start, end) == dict(watched)


def test_the_named_query_reads_the_hourly_grain_for_hourly_intervals(warehouse: Client, sent: list[View]) -> None:
    from pulse.queries.run import run

    counts, viewers = truth(sent, 3600)
    params = {"from": (ANCHOR - timedelta(hours=2)).isoformat(), "to": ANCHOR.isoformat()}
    for name, expected in (("story_views", counts), ("story_viewers", viewers)):
        result = run(warehouse, name, {**params, "interval_s": "3600"})
        got = {(t.replace(tzinfo=UTC), c): int(v) for t, c, v in result.rows}
        assert got == {k: v for k, v in expected.items() if k[0] >= ANCHOR - timedelta(hours=2)}, name


def test_the_generated_panel_returns_the_truth(warehouse: Client, sent: list[View]) -> None:
    board = dashboard_json(next(b for b in DASHBOARDS if b.UID == "pulse-metrics-stories"))
    window = TimeRange(int((ANCHOR - timedelta(hours=2)).timestamp() * 1000), int(ANCHOR.timestamp() * 1000))
    queries = {q.named: q for q in expand(board, window, resolve_variables(board, warehouse, window))}
    assert set(queries) == {d.name for d in load_folder() if d.unit.unit == "stories"}
    counts, viewers = truth([v for v in sent if v[0] >= ANCHOR - timedelta(hours=2)], 60)  # 2 h: 1-minute interval
    for name, expected in (("story_views", counts), ("story_viewers", viewers)):
        rows = warehouse.query(queries[name].sql).result_rows
        assert {(t.replace(tzinfo=UTC), c): int(v) for t, c, v in rows} == dict(expected), name
    ratio = {
        (t.replace(tzinfo=UTC), c): v for t, c, v in warehouse.query(queries["story_views_per_viewer"].sql).result_rows
    }
    assert ratio == pytest.approx({k: counts[k] / viewers[k] for k in counts})


def test_the_anomaly_rule_is_quiet_then_fires_on_a_spike(
    pipeline: Settings, warehouse: Client, sent: list[View]
) -> None:
    rule = provisioned_rule(RULE)
    now_ms = int(ANCHOR.timestamp() * 1000)
    assert evaluate_rule(rule, warehouse, now_ms) == {(): False}, "an ordinary day must not alarm"
    spike = views(random.Random(15), ANCHOR - WINDOW, WINDOW, 200, users=40)
    key = asyncio.run(new_key(pipeline, "stories-app"))
    send_with_segment(collector_url(pipeline), key, spike)
    assert stored_views(pipeline, warehouse, len(sent) + len(spike)) == len(sent) + len(spike)
    assert evaluate_rule(rule, warehouse, now_ms) == {(): True}, "five times the views must alarm"
