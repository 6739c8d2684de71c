"""Loading many realistic events fast: generated inside the warehouse with SQL (``numbers()``).

``pulse bench queries`` needs 100 million events; sending them through the collector would take
hours on a laptop. ``INSERT INTO events SELECT ... FROM numbers()`` goes through the same
materialized-view cascade as the loader's inserts, so every rollup fills exactly as in production.
Users, their place, device, segment and age band are functions of the user number (consistent per
user); users and hashtags are Zipf-like (log-uniform), times spread evenly over the span.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from pulse.generator.population import AGE_BANDS, CATEGORIES, REGIONS, SEGMENTS

EVENT_MIX = (
    ("view", 5500),
    ("like", 1200),
    ("comment", 300),
    ("share", 300),
    ("save", 200),
    ("profile_visit", 400),
    ("follow", 100),
    ("post_created", 100),
    ("search", 400),
    ("page", 300),
    ("screen", 150),
    ("ad_impression", 1000),
    ("ad_click", 40),
    ("conversion", 5),
    ("identify", 5),
)
DEVICE_TYPES = ("mobile", "desktop", "tablet", "mobile", "mobile")
SEARCH_WORDS = ("music", "football", "recipes", "travel", "news", "memes", "fashion", "gaming", "crypto", "weather")

_INSERT = """
INSERT INTO events
    (message_id, call, event, event_time, received_at, user_id, anonymous_id, source, session_id,
     country, region, city, age_band, segment, language, device_type, os, browser, referrer_source,
     post_id, author_id, category, hashtags, search_query, campaign_id, creative_id,
     spend_micros, revenue_micros, properties, kafka_topic, kafka_partition, kafka_offset)
SELECT
    concat('syn-', toString(number))                                         AS message_id,
    if(event = 'identify', 'identify', 'track')                              AS call,
    event,
    fromUnixTimestamp64Milli(toInt64({start_ms:Int64} + intDiv(number * {span_ms:Int64}, {total:UInt64})))
                                                                             AS event_time,
    event_time + toIntervalMillisecond(40 + cityHash64(number, 7) % 400)   AS received_at,
    concat('u', toString(user))                                              AS user_id,
    ''                                                                       AS anonymous_id,
    'bench'                                                                  AS source,
    concat('s', toString(user), '-', toString(intDiv(toUnixTimestamp(event_time), 1800))) AS session_id,
    {countries:Array(String)}[1 + place]                                     AS country,
    {regions:Array(String)}[1 + place]                                       AS region,
    concat({regions:Array(String)}[1 + place], '-city-', toString(cityHash64(user, 3) % 4)) AS city,
    {age_bands:Array(String)}[1 + cityHash64(user, 4) % length({age_bands:Array(String)})] AS age_band,
    {segments:Array(String)}[1 + cityHash64(user, 5) % length({segments:Array(String)})]   AS segment,
    'en'                                                                     AS language,
    {devices:Array(String)}[1 + cityHash64(user, 6) % length({devices:Array(String)})]     AS device_type,
    if(device_type = 'desktop', 'Windows', 'Android')                        AS os,
    if(device_type = 'desktop', 'Chrome', 'Chrome Mobile')                   AS browser,
    'direct'                                                                 AS referrer_source,
    if(has_post, concat('p', toString(post)), '')                            AS post_id,
    if(has_post, concat('u', toString(cityHash64(post, 9) % {users:UInt64})), '') AS author_id,
    if(has_post, {categories:Array(String)}[1 + cityHash64(post, 10) % length({categories:Array(String)})],
       'unknown')                                                            AS category,
    if(has_post,
       arrayMap(i -> concat('tag', toString(toUInt32(pow({tags:UInt32}, (cityHash64(post, 11 + i) % 1000000) / 1e6)))),
                range(cityHash64(post, 12) % 3)),
       [])                                                                   AS hashtags,
    if(event = 'search', {words:Array(String)}[1 + cityHash64(number, 13) % length({words:Array(String)})], '')
                                                                             AS search_query,
    if(is_ad, concat('c', toString(campaign)), '')                           AS campaign_id,
    if(is_ad, concat('c', toString(campaign), '-cr', toString(cityHash64(number, 15) % 4)), '') AS creative_id,
    if(event = 'ad_impression', toInt64(2000 + cityHash64(number, 16) % 3000), 0) AS spend_micros,
    if(event = 'conversion', toInt64(1000000 + cityHash64(number, 17) % 9000000), 0) AS revenue_micros,
    '{}'                                                                     AS properties,
    'bench'                                                                  AS kafka_topic,
    toUInt16(user % 4)                                                       AS kafka_partition,
    number                                                                   AS kafka_offset
FROM
(
    SELECT
        number,
        cityHash64(number, 1) % {weight:UInt32}                                        AS pick,
        toUInt64(pow({users:UInt64}, (cityHash64(number, 2) % 1000000) / 1000000.0))     AS user,
        cityHash64(user, 8) % length({countries:Array(String)})                          AS place,
        toUInt64(pow({posts:UInt64}, (cityHash64(number, 18) % 1000000) / 1000000.0))   AS post,
        cityHash64(number, 14) % 20                                                      AS campaign,
        {events:Array(String)}[indexOf(arrayMap(c -> c > pick, {cumulative:Array(UInt32)}), 1)] AS event,
        event IN ('view', 'like', 'comment', 'share', 'save', 'post_created')              AS has_post,
        event IN ('ad_impression', 'ad_click', 'conversion')                             AS is_ad
    FROM numbers({first:UInt64}, {count:UInt64})
)
SETTINGS insert_deduplicate = 0
"""


def load(
    client: Client,
    total: int,
    *,
    days: float = 30.0,
    end: datetime | None = None,
    users: int = 2_000_000,
    posts: int = 5_000_000,
    tags: int = 20_000,
    chunk: int = 5_000_000,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    """Insert ``total`` events spread over ``days`` ending at ``end``, ``chunk`` rows per statement."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    cumulative, running = [], 0
    for _, weight in EVENT_MIX:
        running += weight
        cumulative.append(running)
    base = {
        "events": [name for name, _ in EVENT_MIX],
        "cumulative": cumulative,
        "weight": running,
        "start_ms": int(start.timestamp() * 1000),
        "span_ms": int((end - start).total_seconds() * 1000),
        "total": total,
        "users": users,
        "posts": posts,
        "tags": tags,
        "countries": [region.country for region in REGIONS],
        "regions": [region.name for region in REGIONS],
        "age_bands": list(AGE_BANDS),
        "segments": list(SEGMENTS),
        "devices": list(DEVICE_TYPES),
        "categories": list(CATEGORIES),
        "words": list(SEARCH_WORDS),
    }
    for first in range(0, total, chunk):
        count = min(chunk, total - first)
        client.command(_INSERT, parameters={**base, "first": first, "count": count})
        if on_rows:
            on_rows(count)
