"""A Segment client's ordinary traffic, sent by the real ``segment-analytics-python`` SDK to a real
collector, is stored once in the warehouse, enriched from the content store and marked so, with its
money exact and its custom events' properties queryable; a ``block`` source still dead-letters
unplanned and invalid events with their reasons (issue 14)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from redis.asyncio import Redis

from pulse.collector.dims import DimensionStore, content_of, post_key
from pulse.settings import Settings
from pulse.warehouse.properties import event_property
from tests.support.collector import collector_server, new_key
from tests.support.stack import StackHandle

USERS = 40
POSTS = {
    f"p-{i}": {"author_id": f"a-{i % 7}", "category": ["travel", "food"][i % 2], "hashtags": [f"t{i}"]}
    for i in range(30)
}
COUNTRIES = ("NO", "JP", "BR")
STRICT_PLAN = """
source: {source}
mode: block
events:
  story_view:
    properties:
      story_id: {{type: string, required: true}}
  like: {{}}
"""


def segment_client(key: str, url: str, errors: list[Any]) -> Any:
    from segment.analytics import Client as Segment

    return Segment(key, host=url, gzip=True, on_error=lambda error, _: errors.append(error))


def remember_posts(settings: Settings) -> None:
    async def run() -> None:
        redis = Redis.from_url(settings.redis.url)
        try:
            writes = {post_key(post): content_of(context) for post, context in POSTS.items()}
            await DimensionStore(redis).remember(writes, strict=True)
        finally:
            await redis.aclose()

    asyncio.run(run())


class Sent:
    """What the client sent: the ground truth the warehouse is compared with."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.revenue: dict[str, Decimal] = {}
        self.cost: dict[str, Decimal] = {}
        self.story_countries: Counter[str] = Counter()


def typical_traffic(client: Any, sent: Sent, seed: int) -> None:
    """Per user: identify, likes with only a post_id, a profile visit by profile_id, an impression with
    a float cost, Signed Up, Order Completed with a decimal revenue and a custom story_view."""
    rng = random.Random(seed)
    for number in range(USERS):
        user = f"u-{seed}-{number}"
        client.identify(user, {"country": COUNTRIES[number % 3], "segment": "casual"})
        sent.events["identify"] += 1
        for post in rng.sample(sorted(POSTS), 3):
            client.track(user, "like", {"post_id": post})
            sent.events["like"] += 1
        client.track(user, "profile_visit", {"profile_id": f"u-{seed}-{(number + 1) % USERS}"})
        cost = round(rng.uniform(0.0001, 3.0), 4)
        impression = f"imp-{seed}-{number}"
        client.track(
            user, "ad_impression", {"campaign_id": "c-1", "creative_id": "k-1", "cost": cost}, message_id=impression
        )
        sent.cost[impression] = Decimal(str(cost))
        client.track(user, "Signed Up", {"method": "email"})
        order = f"o-{seed}-{number}"
        revenue = Decimal(rng.randint(1, 2_000_000)) / 100
        client.track(user, "Order Completed", {"order_id": order, "revenue": float(revenue), "currency": "USD"})
        sent.revenue[order] = revenue
        country = rng.choice(COUNTRIES)
        client.track(user, "story_view", {"story_id": f"s-{number % 5}", "country": country, "duration_ms": 1200})
        sent.story_countries[country] += 1
        sent.events.update(["profile_visit", "ad_impression", "Signed Up", "Order Completed", "story_view"])


def stored_count(warehouse: Client, source: str, expected: int, timeout_s: float = 90.0) -> int:
    """Rows of the source once they stop arriving (at least ``expected`` or the timeout)."""
    deadline = time.monotonic() + timeout_s
    count = -1
    while time.monotonic() < deadline:
        count = int(
            warehouse.query(
                "SELECT count() FROM events WHERE source = {s:String}", parameters={"s": source}
            ).result_rows[0][0]
        )
        if count >= expected:
            time.sleep(2.0)  # a duplicate would arrive now: give it the chance
            break
        time.sleep(0.5)
    return int(
        warehouse.query("SELECT count() FROM events WHERE source = {s:String}", parameters={"s": source}).result_rows[
            0
        ][0]
    )


def test_a_segment_clients_traffic_is_stored_once_enriched_and_exact(
    pipeline: Settings, warehouse: Client, test_stack: StackHandle, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    app, strict = f"app-{run}", f"strict-{run}"
    (tmp_path / f"{strict}.yaml").write_text(STRICT_PLAN.format(source=strict))
    app_key, strict_key = asyncio.run(new_key(pipeline, app)), asyncio.run(new_key(pipeline, strict))
    remember_posts(pipeline)
    errors: list[Any] = []
    sent = Sent()
    extra = {"PULSE_COLLECTOR__AUTH": "keys", "PULSE_COLLECTOR__TRACKING_PLANS": str(tmp_path)}
    with collector_server(test_stack.env, extra=extra) as (url, _):
        client = segment_client(app_key, url, errors)
        typical_traffic(client, sent, seed=14)
        client.flush()
        client.shutdown()
        blocked = segment_client(strict_key, url, errors)
        blocked.identify("u-strict", {"country": "NO"})
        blocked.track("u-strict", "story_view", {"story_id": "s-1"})
        blocked.track("u-strict", "like", {"post_id": "p-1"})
        blocked.track("u-strict", "story_view", {"country": "NO"})  # required story_id missing
        blocked.track("u-strict", "teleport", {"to": "Mars"})  # not in the plan
        blocked.flush()
        blocked.shutdown()
    assert errors == [], "the collector answered 2xx to every batch"

    total = sum(sent.events.values())
    stored = stored_count(warehouse, app, total)
    assert stored >= 0.99 * total and stored <= total, (stored, total)
    by_event = dict(
        warehouse.query(
            "SELECT event, count() FROM events WHERE source = {s:String} GROUP BY event", parameters={"s": app}
        ).result_rows
    )
    assert by_event == dict(sent.events), "every kind of event is stored, exactly once"

    likes = warehouse.query(
        "SELECT post_id, author_id, category, hashtags, flags, country FROM events"
        " WHERE source = {s:String} AND event = 'like'",
        parameters={"s": app},
    ).result_rows
    for post, author, category, hashtags, flags, country in likes:
        assert (author, category, list(hashtags)) == (
            POSTS[post]["author_id"],
            POSTS[post]["category"],
            POSTS[post]["hashtags"],
        ), "the content store fills what the client left out"
        assert {"enriched:author_id", "enriched:category", "enriched:hashtags"} <= set(flags)
        assert country in COUNTRIES and "enriched:profile" in flags, "and the profile the user's identify"
    assert "unplanned" not in {f for row in likes for f in row[4]}, "vocabulary events are planned"

    prop = event_property
    orders = warehouse.query(
        f"SELECT {prop('order_id')}, revenue_micros, flags FROM events"
        " WHERE source = {s:String} AND event = 'Order Completed'",
        parameters={"s": app},
    ).result_rows
    assert {order: micros for order, micros, _ in orders} == {o: int(r * 1_000_000) for o, r in sent.revenue.items()}
    assert all("unplanned" in flags for _, _, flags in orders), "no plan: custom events are flagged unplanned"
    impressions = warehouse.query(
        "SELECT message_id, spend_micros FROM events WHERE source = {s:String} AND event = 'ad_impression'",
        parameters={"s": app},
    ).result_rows
    assert dict(impressions) == {m: int(c * 1_000_000) for m, c in sent.cost.items()}, "float cost, exact micros"
    total_revenue = warehouse.query(
        "SELECT sum(revenue_micros) FROM events WHERE source = {s:String}", parameters={"s": app}
    ).result_rows[0][0]
    assert total_revenue == int(sum(sent.revenue.values()) * 1_000_000)

    stories = warehouse.query(
        f"SELECT {prop('country')} AS story_country, count(), uniq(user_key), sum(toInt64OrZero({prop('duration_ms')}))"
        " FROM events WHERE source = {s:String} AND event = 'story_view' GROUP BY story_country",
        parameters={"s": app},
    ).result_rows
    assert {row[0]: row[1] for row in stories} == dict(sent.story_countries), "a rollup GROUP BY a property"
    assert all(duration == 1200 * count for _, count, _, duration in stories)
    visited = warehouse.query(
        f"SELECT count() FROM events WHERE source = {{s:String}} AND event = 'profile_visit'"
        f" AND {prop('target_user_id')} LIKE 'u-14-%'",
        parameters={"s": app},
    ).result_rows[0][0]
    assert visited == sent.events["profile_visit"], "profile_id is read as the visited profile"

    stored_strict = stored_count(warehouse, strict, 3)
    kept = warehouse.query(
        "SELECT event FROM events WHERE source = {s:String} ORDER BY event", parameters={"s": strict}
    ).result_rows
    assert (stored_strict, [row[0] for row in kept]) == (3, ["identify", "like", "story_view"])
    deadline = time.monotonic() + 60
    rejected: list[Any] = []
    while time.monotonic() < deadline and len(rejected) < 2:
        rejected = warehouse.query(
            "SELECT reason_code, reason FROM rejected_events WHERE source = {s:String} ORDER BY reason_code",
            parameters={"s": strict},
        ).result_rows
        time.sleep(0.5)
    assert [code for code, _ in rejected] == ["plan_violation", "unplanned_event"]
    assert "required property 'story_id' is missing" in rejected[0][1]
    assert f"'teleport' is not in the tracking plan of source '{strict}'" in rejected[1][1]
