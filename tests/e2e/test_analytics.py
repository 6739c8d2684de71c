"""The analytics model end to end: generated traffic -> collector -> Kafka -> loader -> rollup cascade,
read back through the named query layer and compared with the generator's ground truth.

One generated day (low rate, so it stays a few tens of thousands of events) is sent once per module;
every metric family is asserted against the truth or an independent recount of the generated facts,
at every rollup level, and rollups against the raw table. Each scenario uses its own time window.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from clickhouse_connect.driver.client import Client

from pulse.collector.app import source_of_write_key
from pulse.generator.segment import iso_ms
from pulse.generator.sender import send
from pulse.generator.traffic import BurstSpec, TrafficConfig, TrafficGenerator
from pulse.generator.truth import Fact, TruthReport
from pulse.queries.params import bind
from pulse.queries.registry import get as get_query
from pulse.queries.run import run_typed, wire_values
from pulse.settings import Settings
from tests.support.pipeline import ad_totals, collector_url, replaying_loader, wait_loader_caught_up
from tests.support.tiers import wait_for

DAY_RATE = 0.25  # events/s: a day of traffic is 21,600 events
FUNNELS = {"engagement": ("view", "like", "share"), "ads": ("ad_impression", "ad_click", "conversion")}
HLL_TOLERANCE = 0.01  # uniq: exact below 65,536 distinct values per state, documented as within 1 %


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def facts_of(config: TrafficConfig, events: int) -> list[Fact]:
    """The facts of the batches ``send`` delivered: the generator is deterministic per config."""
    return [fact for batch in TrafficGenerator(config).batches(events=events) for fact in batch.facts]


def deliver(settings: Settings, config: TrafficConfig, events: int, write_key: str = "wk_e2e") -> TruthReport:
    truth = asyncio.run(send(TrafficGenerator(config), collector_url(settings), write_key, events=events, paced=False))
    assert truth.unacknowledged.events == 0, truth.unacknowledged
    return truth


def stored_between(warehouse: Client, start: datetime, end: datetime, source: str = "") -> int:
    """Events in the window (of one write key's source, when given: other tests may share a recent window)."""
    return int(
        warehouse.query(
            "SELECT count() FROM events WHERE event_time >= {a:DateTime64(3)} AND event_time < {b:DateTime64(3)}"
            " AND ({source:String} = '' OR source = {source:String})",
            parameters={"a": f"{start.timestamp():.3f}", "b": f"{end.timestamp():.3f}", "source": source},
        ).result_rows[0][0]
    )


def wait_stored(
    settings: Settings,
    warehouse: Client,
    start: datetime,
    end: datetime,
    expected: int,
    timeout_s: float = 90.0,
    source: str = "",
) -> int:
    """Events in the window once ``expected`` are there and the loader committed them (rollups written)."""
    deadline = time.monotonic() + timeout_s
    stored = -1
    while time.monotonic() < deadline:
        stored = stored_between(warehouse, start, end, source)
        if stored >= expected:
            wait_loader_caught_up(settings)  # a part of events is visible before its views' parts
            time.sleep(1.0)  # a duplicate would show up now
            return stored_between(warehouse, start, end, source)
        time.sleep(0.25)
    return stored


def deliver_stored(pipeline: Settings, warehouse: Client, config: TrafficConfig, events: int, key: str) -> TruthReport:
    """Send ``events`` under write key ``key`` and wait until every one is in ``events``, counting only
    that key's source (other tests may share the recent hour)."""
    truth = deliver(pipeline, config, events, key)
    end = config.start + timedelta(hours=1)
    source = source_of_write_key(key)
    assert wait_stored(pipeline, warehouse, config.start, end, truth.events, source=source) == truth.events
    return truth


def q(warehouse: Client, name: str, **values: object) -> list[dict[str, object]]:
    result = run_typed(warehouse, name, values)  # type: ignore[arg-type]
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def within_hll(measured: int, exact: int) -> bool:
    return abs(measured - exact) <= max(1, exact * HLL_TOLERANCE)


@dataclass
class Day:
    config: TrafficConfig
    truth: TruthReport
    facts: list[Fact]
    start: datetime  # hour-aligned, before the first event
    end: datetime  # hour-aligned, after the last event
    user_ids: list[str]
    campaign_of_creative: dict[int, str]
    creative_ids: list[str]  # by creative index, as facts carry it


@pytest.fixture(scope="module")
def day(pipeline: Settings, warehouse: Client) -> Day:
    """A day of traffic 8-9 days ago, stored: every test below reads it."""
    start = hour_floor(datetime.now(UTC)) - timedelta(days=9)
    config = TrafficConfig(
        seed=41, start=start, rate=DAY_RATE, users=2_000, posts=1_500, campaigns=4, flush_interval_s=600
    )
    events = int(86_400 * DAY_RATE)
    truth = deliver(pipeline, config, events)
    end = start + timedelta(days=1, hours=1)
    assert wait_stored(pipeline, warehouse, start, end, truth.events) == truth.events
    generator = TrafficGenerator(config)
    population = generator.population
    return Day(
        config,
        truth,
        facts_of(config, events),
        start,
        end,
        population.user_ids,
        {i: creative.campaign_id for i, creative in enumerate(population.creatives)},
        [creative.creative_id for creative in population.creatives],
    )


def bucketed(per_minute: dict[str, dict[str, int]], seconds: int) -> dict[tuple[datetime, str], int]:
    result: Counter[tuple[datetime, str]] = Counter()
    for minute, counts in per_minute.items():
        moment = datetime.fromisoformat(minute.replace("Z", "+00:00"))
        bucket = datetime.fromtimestamp(moment.timestamp() // seconds * seconds, UTC)
        for event, n in counts.items():
            result[bucket, event] += n
    return dict(result)


def engagement(warehouse: Client, day: Day, interval_s: int, by: str = "event") -> dict[tuple[datetime, str], int]:
    rows = q(warehouse, "engagement", **{"from": day.start, "to": day.end, "interval_s": interval_s, "by": by})
    return {(row["time"].replace(tzinfo=UTC), str(row["key"])): int(row["events"]) for row in rows}  # type: ignore[union-attr, call-overload]


def raw_per_bucket(warehouse: Client, day: Day, seconds: int) -> dict[tuple[datetime, str], int]:
    rows = warehouse.query(
        "SELECT toStartOfInterval(event_time, toIntervalSecond({s:UInt32})) AS t, event, count() FROM events"
        " WHERE event_time >= {a:DateTime64(3)} AND event_time < {b:DateTime64(3)} GROUP BY t, event",
        parameters={"s": seconds, "a": f"{day.start.timestamp():.3f}", "b": f"{day.end.timestamp():.3f}"},
    ).result_rows
    return {(t.replace(tzinfo=UTC), str(event)): int(n) for t, event, n in rows}


@pytest.mark.parametrize("interval_s", [60, 300, 3600])
def test_every_rollup_level_equals_the_truth_and_the_raw_table(warehouse: Client, day: Day, interval_s: int) -> None:
    expected = bucketed(day.truth.per_minute, interval_s)
    assert engagement(warehouse, day, interval_s) == expected
    assert raw_per_bucket(warehouse, day, interval_s) == expected


def test_dimensions_equal_the_truth(warehouse: Client, day: Day) -> None:
    by_country = Counter[str]()
    for (_, key), n in engagement(warehouse, day, 3600, by="country").items():
        by_country[key] += n
    assert dict(by_country) == day.truth.per_country
    by_device = Counter[str]()
    for (_, key), n in engagement(warehouse, day, 300, by="device_type").items():
        by_device[key] += n
    assert dict(by_device) == day.truth.per_device_type
    geo = q(warehouse, "engagement_by_geo", **{"from": day.start, "to": day.end})
    assert {row["place"]: row["events"] for row in geo} == day.truth.per_country
    country = max(day.truth.per_country, key=lambda c: day.truth.per_country[c])
    regions = q(warehouse, "engagement_by_geo", **{"from": day.start, "to": day.end, "country": country})
    assert sum(int(row["events"]) for row in regions) == day.truth.per_country[country]  # type: ignore[call-overload]
    # unaligned range: the minute level of the geo rollup
    shifted = q(warehouse, "engagement_by_geo", **{"from": day.start + timedelta(minutes=1), "to": day.end})
    first_minute = day.start.strftime("%Y-%m-%dT%H:%M:00Z")
    expected = day.truth.events - sum(day.truth.per_minute.get(first_minute, {}).values())
    assert sum(int(row["events"]) for row in shifted) == expected  # type: ignore[call-overload]


def test_unique_users_within_the_documented_error(warehouse: Client, day: Day) -> None:
    per_minute = q(warehouse, "engagement_users", **{"from": day.start, "to": day.end, "interval_s": 60, "by": "all"})
    measured = {row["time"].strftime("%Y-%m-%dT%H:%M:00Z"): int(row["users"]) for row in per_minute}  # type: ignore[union-attr, call-overload]
    assert measured.keys() == day.truth.unique_users_per_minute.keys()
    assert all(within_hll(measured[m], n) for m, n in day.truth.unique_users_per_minute.items())
    users_per_day: defaultdict[str, set[int]] = defaultdict(set)
    for t, _, user, *_ in day.facts:
        users_per_day[datetime.fromtimestamp(t / 1000, UTC).date().isoformat()].add(user)
    daily = q(warehouse, "active_users_per_day", **{"from": day.start, "to": day.end})
    assert {str(row["day"]): int(row["dau"]) for row in daily}.keys() == users_per_day.keys()  # type: ignore[call-overload]
    for row in daily:
        assert within_hll(int(row["dau"]), len(users_per_day[str(row["day"])]))  # type: ignore[call-overload]
    by_profile = q(warehouse, "active_users_by_profile", **{"from": day.start, "to": day.end})
    exact: Counter[str] = Counter()
    for row in by_profile:
        exact[str(row["day"])] += int(row["users"])  # type: ignore[call-overload]
    assert exact == {d: len(users) for d, users in users_per_day.items()}


ENGAGEMENT_WEIGHTS = {"like": 1, "comment": 2, "save": 2, "share": 3, "follow": 3}


@pytest.mark.parametrize("interval_s", [60, 3600])
def test_engagement_score_equals_the_truth(warehouse: Client, day: Day, interval_s: int) -> None:
    """No filter (event slices + per-minute users): weighted interactions exactly, users within the
    estimators' error."""
    rows = q(warehouse, "engagement_score", **{"from": day.start, "to": day.end, "interval_s": interval_s})
    expected: Counter[datetime] = Counter()
    for minute, counts in day.truth.per_minute.items():
        moment = datetime.fromisoformat(minute.replace("Z", "+00:00"))
        bucket = datetime.fromtimestamp(moment.timestamp() // interval_s * interval_s, UTC)
        expected[bucket] += sum(ENGAGEMENT_WEIGHTS.get(kind, 0) * n for kind, n in counts.items())
    measured = {row["time"].replace(tzinfo=UTC): int(row["weighted"]) for row in rows}  # type: ignore[union-attr, call-overload]
    assert {t: n for t, n in measured.items() if n} == {t: n for t, n in expected.items() if n}
    if interval_s == 60:
        users = {row["time"].strftime("%Y-%m-%dT%H:%M:00Z"): int(row["users"]) for row in rows}  # type: ignore[union-attr, call-overload]
        assert users.keys() == day.truth.unique_users_per_minute.keys()
        assert all(within_hll(users[m], n) for m, n in day.truth.unique_users_per_minute.items())


def test_engagement_score_with_a_filter_equals_the_raw_table(warehouse: Client, day: Day) -> None:
    """A country filter (the wide rollup) against the same numbers recounted from raw events."""
    country = max(day.truth.per_country, key=lambda c: day.truth.per_country[c])
    rows = q(
        warehouse, "engagement_score", **{"from": day.start, "to": day.end, "interval_s": 3600, "country": country}
    )
    raw = warehouse.query(
        "SELECT toStartOfHour(event_time) AS t,"
        " sumIf(1, event = 'like') + 2 * sumIf(1, event IN ('comment', 'save'))"
        " + 3 * sumIf(1, event IN ('share', 'follow')),"
        " uniqExact(if(user_id != '', user_id, anonymous_id))"
        " FROM events WHERE event_time >= {a:DateTime64(3)} AND event_time < {b:DateTime64(3)} AND country = {c:String}"
        " GROUP BY t",
        parameters={"a": f"{day.start.timestamp():.3f}", "b": f"{day.end.timestamp():.3f}", "c": country},
    ).result_rows
    expected = {t.replace(tzinfo=UTC): (int(w), int(u)) for t, w, u in raw}
    measured = {row["time"].replace(tzinfo=UTC): (int(row["weighted"]), int(row["users"])) for row in rows}  # type: ignore[union-attr, call-overload]
    assert measured.keys() == expected.keys()
    for t, (weighted, users) in measured.items():
        assert weighted == expected[t][0]
        assert within_hll(users, expected[t][1])


def test_sessions_equal_the_truth(warehouse: Client, day: Day) -> None:
    (row,) = q(warehouse, "sessions", **{"from": day.start, "to": day.end})
    truth = day.truth.sessions
    assert (row["sessions"], row["bounces"], row["total_duration_ms"]) == (
        truth.count,
        truth.bounces,
        truth.total_duration_ms,
    )


def expected_funnel(facts: list[Fact], steps: tuple[str, ...], window_ms: int) -> list[int]:
    """windowFunnel recomputed: per user, the deepest chain whose steps follow within the window."""
    by_user: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for t, kind, user, *_ in facts:
        if kind in steps:
            by_user[user].append((t, steps.index(kind)))
    reached = [0] * len(steps)
    for events in by_user.values():
        started: list[int | None] = [None] * len(steps)
        for t, step in sorted(events):
            if step == 0:
                started[0] = t
            else:
                first = started[step - 1]
                if first is not None and t <= first + window_ms:
                    started[step] = first
        level = max((i + 1 for i, s in enumerate(started) if s is not None), default=0)
        for i in range(level):
            reached[i] += 1
    return reached


@pytest.mark.parametrize("journey", ["engagement", "ads"])
def test_funnels_equal_a_recount(warehouse: Client, day: Day, journey: str) -> None:
    rows = q(warehouse, "funnel", **{"from": day.start, "to": day.end, "journey": journey, "window_s": 1800})
    expected = expected_funnel(day.facts, FUNNELS[journey], 1_800_000)
    assert [int(row["users"]) for row in rows] == [n for n in expected if n]  # type: ignore[call-overload]
    assert expected[0] > expected[1] > 0


def test_ad_kpis_equal_the_truth(warehouse: Client, day: Day) -> None:
    campaigns = {row["key"]: row for row in q(warehouse, "ad_performance", **{"from": day.start, "to": day.end})}
    assert campaigns.keys() == day.truth.per_campaign.keys()
    for campaign, totals in day.truth.per_campaign.items():
        row = campaigns[campaign]
        assert ad_totals(row) == totals
        assert row["ctr"] == round(totals.clicks / totals.impressions, 6)
        if totals.conversions:
            assert row["roas"] == round(totals.revenue_micros / totals.spend_micros, 6)
            assert row["cpa"] == round(totals.spend_micros / totals.conversions / 1e6, 6)
    since = day.start + timedelta(minutes=1)  # not hour-aligned: the minute rollup answers the first hour
    creatives = q(warehouse, "ad_performance", **{"from": since, "to": day.end, "by": "creative"})
    assert {row["key"]: (row["impressions"], row["clicks"], row["spend_micros"]) for row in creatives} == (
        creative_totals_since(day, since)
    )


def creative_totals_since(day: Day, since: datetime) -> dict[str, tuple[int, int, int]]:
    """(impressions, clicks, spend) per creative recounted from the facts at or after ``since``."""
    totals: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    since_ms = int(since.timestamp() * 1000)
    for t, kind, _, _, creative, money, *_ in day.facts:
        if t < since_ms or creative < 0:
            continue
        counts = totals[day.creative_ids[creative]]
        if kind == "ad_impression":
            counts[0] += 1
            counts[2] += money
        elif kind == "ad_click":
            counts[1] += 1
    return {creative: (imp, clk, spend) for creative, (imp, clk, spend) in totals.items()}


def expected_attribution(day: Day, window_ms: int) -> dict[str, int]:
    clicks: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
    for t, kind, user, _, creative, *_ in day.facts:
        if kind == "ad_click":
            clicks[user, day.campaign_of_creative[creative]].append(t)
    credited: Counter[str] = Counter()
    for t, kind, user, _, creative, *_ in day.facts:
        if kind == "conversion":
            campaign = day.campaign_of_creative[creative]
            earlier = [c for c in clicks[user, campaign] if c <= t]
            credited[campaign] += bool(earlier) and t - max(earlier) <= window_ms
    return dict(credited)


@pytest.mark.parametrize("window_s", [86_400, 60])
def test_attribution_equals_a_recount(warehouse: Client, day: Day, window_s: int) -> None:
    rows = q(warehouse, "ad_attribution", **{"from": day.start, "to": day.end, "attribution_window_s": window_s})
    expected = expected_attribution(day, window_s * 1000)
    assert {row["campaign_id"]: row["attributed"] for row in rows} == expected
    assert {row["campaign_id"]: row["conversions"] for row in rows} == {
        c: t.conversions for c, t in day.truth.per_campaign.items() if t.conversions
    }


def test_budget_pacing_against_a_linear_plan(warehouse: Client, day: Day) -> None:
    """Budgets come from the campaigns dimension (here an operator's insert) through the dictionary."""
    specs = {c.campaign_id: c.daily_budget_micros for c in day.truth.campaigns}
    warehouse.insert(
        "campaigns",
        [[cid, f"campaign {cid}", budget, day.start] for cid, budget in specs.items()],
        column_names=["campaign_id", "name", "daily_budget_micros", "updated_at"],
    )
    warehouse.command("SYSTEM RELOAD DICTIONARY campaigns_dict")
    noon = day.start.replace(hour=12, minute=0, second=0, microsecond=0)
    at = noon if noon >= day.start else noon + timedelta(days=1)  # the first noon in the traffic's 25 h
    rows = {row["campaign_id"]: row for row in q(warehouse, "budget_pacing", to=at)}
    spend: Counter[str] = Counter()
    day_start = at.replace(hour=0).timestamp() * 1000
    for t, kind, _, _, creative, money, *_ in day.facts:
        if kind == "ad_impression" and day_start <= t < at.timestamp() * 1000:
            spend[day.campaign_of_creative[creative]] += money
    assert rows and {campaign for campaign, micros in spend.items() if micros > 0} <= set(rows)
    for campaign, row in rows.items():
        assert row["spend_micros"] == spend[campaign]
        assert row["daily_budget_micros"] == specs[campaign]
        assert row["planned_micros"] == round(specs[campaign] / 2)


def test_hashtags_per_minute_equal_the_truth(warehouse: Client, day: Day) -> None:
    rows = q(warehouse, "topic_mentions", **{"from": day.start, "to": day.end, "interval_s": 60})
    measured: dict[str, dict[str, int]] = {}
    for row in rows:
        measured.setdefault(row["time"].strftime("%Y-%m-%dT%H:%M:00Z"), {})[str(row["term"])] = int(row["mentions"])  # type: ignore[union-attr, call-overload]
    assert measured == day.truth.hashtags_per_minute


def test_a_late_event_updates_the_right_buckets(pipeline: Settings, warehouse: Client, day: Day) -> None:
    """Traffic arriving after its minute, 5 minutes and hour were rolled up adds to exactly those buckets."""
    late_start = day.start + timedelta(hours=5, minutes=7, seconds=30)
    config = TrafficConfig(seed=42, start=late_start, rate=2.0, users=50, posts=50, campaigns=1)
    before = {s: engagement(warehouse, day, s) for s in (60, 300, 3600)}
    truth = deliver(pipeline, config, 40)
    expected_total = day.truth.events + truth.events
    assert wait_stored(pipeline, warehouse, day.start, day.end, expected_total) == expected_total
    for seconds, counts in before.items():
        late = bucketed(truth.per_minute, seconds)
        expected = Counter(counts)
        expected.update(late)
        assert engagement(warehouse, day, seconds) == dict(expected)
    day.truth.events = expected_total  # later tests of this module see the late events too


Snapshot = dict[str, list[tuple[object, ...]]]


def rollup_snapshot(warehouse: Client, start: datetime, end: datetime) -> Snapshot:
    """Every rollup's finalized content in the window: merges may reshape rows, never values."""
    a, b = f"{start.timestamp():.3f}", f"{end.timestamp():.3f}"
    tables = {
        "events_per_minute": "SELECT minute, event, country, device_type, sum(events), uniqMerge(users)"
        " FROM events_per_minute WHERE minute >= {a:DateTime64(3)} AND minute < {b:DateTime64(3)} GROUP BY ALL",
        "events_per_second": "SELECT second, event, country, device_type, sum(events)"
        " FROM events_per_second WHERE second >= {a:DateTime64(3)} AND second < {b:DateTime64(3)} GROUP BY ALL",
        "active_users_per_day": "SELECT day, country, device_type, segment, uniqMerge(users)"
        " FROM active_users_per_day WHERE day >= toDate({a:DateTime64(3)}) AND day <= toDate({b:DateTime64(3)})"
        " GROUP BY ALL",
        "user_days": "SELECT day, user, sum(events) FROM user_days"
        " WHERE day >= toDate({a:DateTime64(3)}) AND day <= toDate({b:DateTime64(3)}) GROUP BY ALL",
        "topic_mentions_per_minute": "SELECT bucket, kind, term, region, age_band, sum(mentions), uniqMerge(users)"
        " FROM topic_mentions_per_minute WHERE bucket >= {a:DateTime64(3)} AND bucket < {b:DateTime64(3)} GROUP BY ALL",
        "engagement_slices_per_minute": "SELECT bucket, dimension, value, sum(events) FROM engagement_slices_per_minute"
        " WHERE bucket >= {a:DateTime64(3)} AND bucket < {b:DateTime64(3)} GROUP BY ALL",
        "engagement_slices_per_hour": "SELECT bucket, dimension, value, sum(events), uniqCombinedMerge(users)"
        " FROM engagement_slices_per_hour WHERE bucket >= toStartOfHour({a:DateTime64(3)})"
        " AND bucket < {b:DateTime64(3)} GROUP BY ALL",
        "active_user_slices_per_day": "SELECT day, dimension, value, uniqCombinedMerge(users)"
        " FROM active_user_slices_per_day"
        " WHERE day >= toDate({a:DateTime64(3)}) AND day <= toDate({b:DateTime64(3)}) GROUP BY ALL",
        "topic_mentions_by_term_per_minute": "SELECT bucket, kind, term, sum(mentions), uniqMerge(users)"
        " FROM topic_mentions_by_term_per_minute WHERE bucket >= {a:DateTime64(3)} AND bucket < {b:DateTime64(3)}"
        " GROUP BY ALL",
        # Dimensions keep versions until a merge collapses them: FINAL counts what a merge may not change.
        "users": "SELECT count() FROM users FINAL",
        "posts": "SELECT count() FROM posts FINAL",
    }
    for level in ("minute", "5m", "hour"):
        tables[f"engagement_per_{level}"] = (
            "SELECT bucket, event, country, device_type, segment, category, sum(events), uniqMerge(users)"
            f" FROM engagement_per_{level} WHERE bucket >= {{a:DateTime64(3)}} AND bucket < {{b:DateTime64(3)}}"
            " GROUP BY ALL"
        )
    for level in ("minute", "hour"):
        tables[f"engagement_geo_per_{level}"] = (
            "SELECT bucket, event, country, region, city, sum(events), uniqMerge(users)"
            f" FROM engagement_geo_per_{level} WHERE bucket >= {{a:DateTime64(3)}} AND bucket < {{b:DateTime64(3)}}"
            " GROUP BY ALL"
        )
        tables[f"ad_performance_per_{level}"] = (
            "SELECT bucket, campaign_id, creative_id, segment, device_type, country, sum(impressions), sum(clicks),"
            " sum(conversions), sum(spend_micros), sum(revenue_micros)"
            f" FROM ad_performance_per_{level} WHERE bucket >= {{a:DateTime64(3)}} AND bucket < {{b:DateTime64(3)}}"
            " GROUP BY ALL"
        )
    return {
        name: sorted(map(tuple, warehouse.query(sql, parameters={"a": a, "b": b}).result_rows), key=repr)
        for name, sql in tables.items()
    }


def settled_snapshot(warehouse: Client, start: datetime, end: datetime) -> Snapshot:
    """The rollups once two reads 2 s apart agree: the views of an insert still running (whoever's)
    are written after its rows of ``events`` are visible, so a single read may catch them halfway."""
    reads: list[Snapshot] = []

    def agrees_with_the_last_read() -> bool:
        reads.append(rollup_snapshot(warehouse, start, end))
        return len(reads) > 1 and reads[-1] == reads[-2]

    wait_for(agrees_with_the_last_read, 30, "the rollups to settle", poll_s=2.0)
    return reads[-1]


def changed_rows(after: Snapshot, before: Snapshot) -> dict[str, dict[str, list[tuple[object, ...]]]]:
    """Per rollup that differs: the rows it gained and the rows it lost (an empty dict: none differs)."""
    changes = {}
    for name in sorted(set(after) | set(before)):
        now, then = Counter(after.get(name, [])), Counter(before.get(name, []))
        if now != then:
            changes[name] = {"gained": sorted(now - then, key=repr), "lost": sorted(then - now, key=repr)}
    return changes


def loader_counter(settings: Settings, name: str) -> float:
    text = httpx.get(f"http://{settings.stack.host}:{settings.loader.metrics_port}/metrics", timeout=2).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def test_client_retries_and_kafka_redelivery_change_no_rollup(pipeline: Settings, warehouse: Client) -> None:
    """Resending batches with the same messageIds through the collector, then replaying every Kafka
    offset with a new consumer group, leaves every rollup value (and the raw table) unchanged."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)  # the 1 s rollup keeps 2 h
    config = TrafficConfig(seed=43, start=start, rate=20.0, users=800, posts=500, campaigns=3, flush_interval_s=5)
    key, source = "wk_analytics_retry", source_of_write_key("wk_analytics_retry")
    truth = deliver_stored(pipeline, warehouse, config, 3_000, key)
    end = start + timedelta(hours=1)
    before = settled_snapshot(warehouse, start, end)
    raw = stored_between(warehouse, start, end)  # may include other tests' recent traffic
    assert sum(row[-1] for row in before["events_per_second"]) == raw  # type: ignore[misc]
    duplicates_before = loader_counter(pipeline, "pulse_loader_duplicate_messages_total")

    again = deliver(pipeline, config, 3_000, key)  # a client retrying every batch: same messageIds, new offsets
    assert again.events == truth.events
    deadline = time.monotonic() + 60
    while loader_counter(pipeline, "pulse_loader_duplicate_messages_total") - duplicates_before < truth.events:
        assert time.monotonic() < deadline, "the loader did not see the resent messages"
        time.sleep(0.5)
    assert stored_between(warehouse, start, end, source) == truth.events
    assert stored_between(warehouse, start, end) == raw
    assert changed_rows(rollup_snapshot(warehouse, start, end), before) == {}

    with replaying_loader(pipeline, "pulse-analytics-replay"):
        deadline = time.monotonic() + 90
        while True:
            text = httpx.get(f"http://{pipeline.stack.host}:{pipeline.loader.metrics_port}/metrics", timeout=2).text
            lags = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("pulse_loader_lag")]
            if lags and not any(lags) and loader_counter(pipeline, "pulse_loader_batches_total") > 0:
                break
            assert time.monotonic() < deadline, "the replaying loader did not catch up"
            time.sleep(1.0)
        assert stored_between(warehouse, start, end) == raw
        assert changed_rows(rollup_snapshot(warehouse, start, end), before) == {}


RAW_SESSIONS = """
SELECT count(), countIf(length(session) = 1), toInt64(sum(session[-1] - session[1]))
FROM
(
    SELECT arraySort(groupArray(toUnixTimestamp64Milli(event_time))) AS times
    FROM events
    WHERE event_time >= {a:DateTime64(3)} AND event_time < {b:DateTime64(3)}
      AND ({c:String} = '' OR country = {c:String})
    GROUP BY if(user_id != '', user_id, anonymous_id)
)
ARRAY JOIN arraySplit((t, i) -> i > 1 AND t - times[i - 1] > 1800000, times, arrayEnumerate(times)) AS session
"""
RAW_FUNNEL = """
SELECT step, count()
FROM
(
    SELECT windowFunnel(3600000)(toUInt64(toUnixTimestamp64Milli(event_time)),
                                 event = 'view', event = 'like', event = 'share') AS level
    FROM events
    WHERE event_time >= {a:DateTime64(3)} AND event_time < {b:DateTime64(3)} AND event IN ('view', 'like', 'share')
    GROUP BY if(user_id != '', user_id, anonymous_id)
)
ARRAY JOIN range(1, level + 1) AS step
GROUP BY step ORDER BY step
"""


def test_the_live_snapshots_answer_the_dashboards_last_hour_as_raw_events_do(
    pipeline: Settings, warehouse: Client
) -> None:
    """sessions_last_hour / funnels_last_hour (refreshed every 5 s) give what raw events give for the
    same window, the named queries read them only for the dashboard's unfiltered last hour, and a
    filter falls back to raw events."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    config = TrafficConfig(seed=47, start=start, rate=5.0, users=300, posts=200, campaigns=2, flush_interval_s=5)
    source = source_of_write_key("wk_analytics_live")
    deliver_stored(pipeline, warehouse, config, 2_000, "wk_analytics_live")
    stored_at = datetime.now(UTC)
    deadline = time.monotonic() + 30
    while True:  # a refresh that started after every event was stored
        row = warehouse.query(
            "SELECT window_from, window_to, sessions, bounces, total_duration_ms FROM sessions_last_hour"
        ).result_rows
        funnel_windows = warehouse.query("SELECT DISTINCT window_to FROM funnels_last_hour").result_rows
        if row and row[0][1].replace(tzinfo=UTC) > stored_at and funnel_windows:
            funnel_end = funnel_windows[0][0].replace(tzinfo=UTC)
            if funnel_end > stored_at:
                break
        assert time.monotonic() < deadline, "the live snapshots were not refreshed"
        time.sleep(0.5)
    window_from, window_to, *snapshot = row[0]
    window_from, window_to = window_from.replace(tzinfo=UTC), window_to.replace(tzinfo=UTC)
    bounds = {"a": f"{window_from.timestamp():.3f}", "b": f"{window_to.timestamp():.3f}", "c": ""}
    (raw,) = warehouse.query(RAW_SESSIONS, parameters=bounds).result_rows
    assert tuple(snapshot) == tuple(raw) and raw[0] > 0
    (named,) = q(warehouse, "sessions", **{"from": window_from, "to": window_to})
    assert (named["sessions"], named["bounces"], named["total_duration_ms"]) == tuple(raw)

    funnel_bounds = {"a": f"{(funnel_end - timedelta(hours=1)).timestamp():.3f}", "b": f"{funnel_end.timestamp():.3f}"}
    raw_funnel = [int(n) for _, n in warehouse.query(RAW_FUNNEL, parameters=funnel_bounds).result_rows]
    snapshot_funnel = [
        int(n)
        for _, n in warehouse.query(
            "SELECT step, users FROM funnels_last_hour WHERE journey = 'engagement' ORDER BY step"
        ).result_rows
    ]
    assert snapshot_funnel == raw_funnel and raw_funnel
    named_funnel = q(warehouse, "funnel", **{"from": funnel_end - timedelta(hours=1), "to": funnel_end})
    assert [int(r["users"]) for r in named_funnel] == raw_funnel  # type: ignore[call-overload]

    country = warehouse.command(
        "SELECT country FROM events WHERE source = {s:String} GROUP BY country ORDER BY count() DESC LIMIT 1",
        parameters={"s": source},
    )
    (filtered,) = q(warehouse, "sessions", **{"from": window_from, "to": window_to, "country": country})
    (raw_filtered,) = warehouse.query(RAW_SESSIONS, parameters={**bounds, "c": country}).result_rows
    assert (filtered["sessions"], filtered["bounces"], filtered["total_duration_ms"]) == tuple(raw_filtered)
    assert filtered["sessions"] < named["sessions"]


def test_the_trending_snapshot_equals_the_rollups(pipeline: Settings, warehouse: Client) -> None:
    """trending_topics_live (refreshed every 5 s) gives, for its window, exactly what the rollups give:
    the named query answered from the snapshot equals the same query forced onto the rollups."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    config = TrafficConfig(seed=53, start=start, rate=20.0, users=150, posts=300, campaigns=2, flush_interval_s=5)
    deliver_stored(pipeline, warehouse, config, 3_000, "wk_analytics_trend")
    stored_at = datetime.now(UTC)
    query = get_query("trending_topics")
    on_rollups = query.sql.replace("FROM trending_topics_live", "FROM (SELECT * FROM trending_topics_live WHERE 0)")
    assert on_rollups != query.sql
    deadline = time.monotonic() + 60
    while True:
        windows = warehouse.query("SELECT max(window_to), count() FROM trending_topics_live").result_rows
        window_to, terms = windows[0][0].replace(tzinfo=UTC), int(windows[0][1])
        if window_to > stored_at and terms:
            values = wire_values({**bind(query, {"kind": "hashtag", "min_mentions": "3"}), "to": window_to})
            from_snapshot = warehouse.query(query.sql, parameters=values).result_rows
            from_rollups = warehouse.query(on_rollups, parameters=values).result_rows
            (after,) = warehouse.query("SELECT max(window_to) FROM trending_topics_live").result_rows[0]
            if after.replace(tzinfo=UTC) == window_to:  # no refresh in between
                break
        assert time.monotonic() < deadline, "no trending snapshot after the traffic"
        time.sleep(0.5)
    assert from_snapshot and from_snapshot == from_rollups


AD_HOC_QUESTIONS = (
    "SELECT event, count(), sum(spend_micros) FROM events GROUP BY event",
    "SELECT event, country, count(), sum(spend_micros), sum(revenue_micros) FROM events GROUP BY event, country",
    "SELECT device_type, segment, count(), uniq(user_key) FROM events WHERE event = 'view'"
    " GROUP BY device_type, segment",
    "SELECT toStartOfHour(event_time) AS hour, category, count() FROM events"
    " WHERE toStartOfHour(event_time) >= {a:DateTime} AND toStartOfHour(event_time) < {b:DateTime}"
    " GROUP BY hour, category",
)


@pytest.mark.parametrize("sql", AD_HOC_QUESTIONS)
def test_ad_hoc_questions_are_answered_from_the_projection_as_from_raw_rows(
    warehouse: Client, day: Day, sql: str
) -> None:
    """The engine picks a projection (per hour or per day) for aggregations over its columns, with the
    same result as reading every raw row."""
    bounds = {"a": int(day.start.timestamp()), "b": int(day.end.timestamp())}
    plan = "\n".join(row[0] for row in warehouse.query("EXPLAIN projections = 1 " + sql, parameters=bounds).result_rows)
    assert re.search(r"ReadFromMergeTree \(events_by_dimensions(_per_day)?\)", plan), plan
    projected = sorted(map(tuple, warehouse.query(sql, parameters=bounds).result_rows), key=repr)
    raw = sorted(
        map(tuple, warehouse.query(sql, parameters=bounds, settings={"optimize_use_projections": 0}).result_rows),
        key=repr,
    )
    assert projected == raw and projected


def test_an_injected_burst_trends_within_one_window_and_steady_tags_do_not(
    pipeline: Settings, warehouse: Client
) -> None:
    # The traffic varies only with the hour of day; at 10:00 the steadiest tag is 5 mentions short of
    # trending before the burst (at 09:00 one mention short: z 3.905 against 4).
    start = (hour_floor(datetime.now(UTC)) - timedelta(days=11)).replace(hour=10)
    burst = BurstSpec("eclipsewave", start_s=14 * 60, duration_s=180, peak_share=0.35)
    config = TrafficConfig(
        seed=44, start=start, rate=15.0, users=3_000, posts=2_000, campaigns=2, bursts=(burst,), flush_interval_s=10
    )
    events = int(17 * 60 * config.rate)
    truth = deliver(pipeline, config, events)
    assert wait_stored(pipeline, warehouse, start, start + timedelta(hours=1), truth.events) == truth.events
    spam = spam_batch(start + timedelta(minutes=14, seconds=10), "spamwave", messages=150, users=2)
    answer = httpx.post(collector_url(pipeline) + "/v1/batch", content=spam, auth=("wk_e2e", ""), timeout=10)
    assert answer.status_code == 200, answer.text
    assert wait_stored(pipeline, warehouse, start, start + timedelta(hours=1), truth.events + 150) == truth.events + 150

    burst_start = start + timedelta(seconds=burst.start_s)
    window = {"window_min": 1, "baseline_windows": 12, "min_mentions": 10}
    before = q(warehouse, "trending_topics", to=burst_start, **window)
    assert not any(row["trending"] for row in before), before
    first_window = q(warehouse, "trending_topics", to=burst_start + timedelta(minutes=1), **window)
    trending = [row["term"] for row in first_window if row["trending"]]
    assert trending and trending[0] == "eclipsewave", first_window
    # Burst posts also carry ordinary tags, which really do rise with it ("riders"); every other tag
    # stays within its own baseline and must not trend, least of all the most popular ones.
    minute = burst_start.strftime("%Y-%m-%dT%H:%M:00Z")
    baseline = [(burst_start - timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:00Z") for m in range(1, 13)]
    per_minute = truth.hashtags_per_minute

    def count(tag: str, at: str) -> int:
        return per_minute.get(at, {}).get(tag, 0)

    riders = {tag for tag in per_minute.get(minute, {}) if count(tag, minute) > max(count(tag, b) for b in baseline)}
    assert set(trending) <= riders | {"eclipsewave"}, (trending, riders)
    volume = Counter({tag: sum(count(tag, b) for b in baseline) for tag in truth.hashtag_totals})
    steady = [tag for tag, _ in volume.most_common() if tag not in riders][:5]
    assert steady and not set(steady) & set(trending), (steady, trending)
    everything = {**window, "min_mentions": 1, "limit": 1000}
    spam_rows = [
        row
        for row in q(warehouse, "trending_topics", to=burst_start + timedelta(minutes=1), **everything)
        if row["term"] == "spamwave"
    ]
    assert "spamwave" not in trending
    assert spam_rows and spam_rows[0]["mentions"] == 150
    assert spam_rows[0]["current"] <= 2 * 3  # dampened to max_per_user mentions per distinct user
    five = q(warehouse, "trending_topics", to=burst_start + timedelta(minutes=5), window_min=5, baseline_windows=2)
    assert [row["term"] for row in five if row["trending"]][:1] == ["eclipsewave"], five


def spam_batch(at: datetime, tag: str, *, messages: int, users: int) -> bytes:
    """Many posts carrying one hashtag from very few accounts: what spam dampening must discount."""
    batch = []
    for n in range(messages):
        moment = at + timedelta(milliseconds=200 * n)
        batch.append(
            {
                "type": "track",
                "event": "post_created",
                "messageId": f"spam-{tag}-{n}",
                "timestamp": iso_ms(int(moment.timestamp() * 1000)),
                "userId": f"spammer{n % users}",
                "properties": {
                    "post_id": f"spam-post-{n}",
                    "author_id": f"spammer{n % users}",
                    "category": "news",
                    "hashtags": [tag],
                    "session_id": f"spam-session-{n % users}",
                },
                "context": {"session_id": f"spam-session-{n % users}"},
            }
        )
    return orjson.dumps({"batch": batch})


def test_rejected_input_lands_in_its_own_table(pipeline: Settings, warehouse: Client) -> None:
    """The collector's dead-letter topic is loaded into rejected_events, with the reason."""
    marker = f"reject-{time.time_ns()}"
    body = orjson.dumps({"batch": [{"type": "track", "messageId": marker, "userId": "u-rejected"}]})
    answer = httpx.post(collector_url(pipeline) + "/v1/batch", content=body, auth=("wk_e2e", ""), timeout=10)
    assert answer.status_code < 500, answer.text
    deadline = time.monotonic() + 60
    rows: list[tuple[object, ...]] = []
    while not rows and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = warehouse.query(
            "SELECT reason, reason_code FROM rejected_events WHERE position(payload, {m:String}) > 0",
            parameters={"m": marker},
        ).result_rows
    assert len(rows) == 1 and "event" in str(rows[0][0]), rows
