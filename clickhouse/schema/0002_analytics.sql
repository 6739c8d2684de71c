-- The analytics model: rollup cascade, dimensions, sessions/trending/ads inputs.
--
-- Every rollup below is fed, directly or through the level below it, by inserts into `events`.
-- The loader inserts one Kafka offset range per block with insert_deduplication_token; with
-- deduplicate_blocks_in_dependent_materialized_views (on by default) a re-inserted block is
-- dropped by `events` and by every view of the cascade, at every level (docs/analytics.md).
-- Rollups use AggregatingMergeTree with SimpleAggregateFunction(sum) counters and uniq states,
-- so late rows simply add to their bucket and queries finish the merge with sum()/uniqMerge().

-- Raw table: a minmax index on stored_at lets the loader rebuild its recent messageId window
-- without reading old parts, and a bloom filter on user_id serves per-user drill-downs.
ALTER TABLE events ADD INDEX IF NOT EXISTS events_stored_at_minmax stored_at TYPE minmax GRANULARITY 1;
ALTER TABLE events ADD INDEX IF NOT EXISTS events_user_bloom user_id TYPE bloom_filter(0.01) GRANULARITY 4;

-- Topic families: one raw table, one view per family (see docs/analytics.md for why not four tables).
CREATE VIEW IF NOT EXISTS interaction_events AS
SELECT * FROM events
WHERE event IN ('view', 'like', 'comment', 'share', 'save', 'profile_visit', 'follow', 'search', 'page', 'screen');

CREATE VIEW IF NOT EXISTS content_events AS
SELECT * FROM events WHERE event = 'post_created';

CREATE VIEW IF NOT EXISTS ad_events AS
SELECT * FROM events WHERE event IN ('ad_impression', 'ad_click', 'conversion');

CREATE VIEW IF NOT EXISTS identity_events AS
SELECT * FROM events WHERE event IN ('identify', 'group', 'alias');

-- The collector's dead-letter topic (pulse.deadletter): rejected input with its reason.
CREATE TABLE IF NOT EXISTS rejected_events
(
    failed_at       DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    source          LowCardinality(String),
    reason          String,
    reason_code     LowCardinality(String),
    payload         String CODEC(ZSTD(3)),
    kafka_topic     LowCardinality(String),
    kafka_partition UInt16,
    kafka_offset    UInt64,
    stored_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toDate(failed_at)
ORDER BY (reason_code, failed_at)
TTL toDateTime(failed_at) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- ---------------------------------------------------------------------------------------------
-- events_per_second: the live panel's "last minutes" at 1 s, kept 2 hours. Fed from raw.
CREATE TABLE IF NOT EXISTS events_per_second
(
    second      DateTime('UTC'),
    event       LowCardinality(String),
    country     LowCardinality(String),
    device_type LowCardinality(String),
    events      SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toStartOfHour(second)
ORDER BY (second, event, country, device_type)
TTL second + INTERVAL 2 HOUR
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_per_second_mv TO events_per_second AS
SELECT toStartOfSecond(event_time) AS second, event, country, device_type, count() AS events
FROM events
GROUP BY second, event, country, device_type;

-- ---------------------------------------------------------------------------------------------
-- engagement: events and unique users by the dashboard's filter dimensions.
-- minute (30 d) -> 5 minutes (90 d) -> hour (2 y), each level fed from the one below.
CREATE TABLE IF NOT EXISTS engagement_per_minute
(
    bucket      DateTime('UTC'),
    event       LowCardinality(String),
    country     LowCardinality(String),
    device_type LowCardinality(String),
    segment     LowCardinality(String),
    category    LowCardinality(String),
    events      SimpleAggregateFunction(sum, UInt64),
    users       AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (bucket, event, country, device_type, segment, category)
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_per_minute_mv TO engagement_per_minute AS
SELECT
    toStartOfMinute(event_time)                          AS bucket,
    event, country, device_type, segment, category,
    count()                                              AS events,
    uniqState(if(user_id != '', user_id, anonymous_id))  AS users
FROM events
GROUP BY bucket, event, country, device_type, segment, category;

CREATE TABLE IF NOT EXISTS engagement_per_5m AS engagement_per_minute
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, event, country, device_type, segment, category)
TTL bucket + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_per_5m_mv TO engagement_per_5m AS
SELECT
    toStartOfFiveMinutes(bucket) AS bucket,
    event, country, device_type, segment, category,
    sum(events)                  AS events,
    uniqMergeState(users)        AS users
FROM engagement_per_minute
GROUP BY bucket, event, country, device_type, segment, category;

CREATE TABLE IF NOT EXISTS engagement_per_hour AS engagement_per_minute
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, event, country, device_type, segment, category)
TTL bucket + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_per_hour_mv TO engagement_per_hour AS
SELECT
    toStartOfHour(bucket)  AS bucket,
    event, country, device_type, segment, category,
    sum(events)            AS events,
    uniqMergeState(users)  AS users
FROM engagement_per_5m
GROUP BY bucket, event, country, device_type, segment, category;

-- engagement_geo: the geo hierarchy country -> region -> city, per minute -> per hour.
CREATE TABLE IF NOT EXISTS engagement_geo_per_minute
(
    bucket  DateTime('UTC'),
    event   LowCardinality(String),
    country LowCardinality(String),
    region  LowCardinality(String),
    city    LowCardinality(String),
    events  SimpleAggregateFunction(sum, UInt64),
    users   AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (bucket, country, region, city, event)
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_geo_per_minute_mv TO engagement_geo_per_minute AS
SELECT
    toStartOfMinute(event_time)                          AS bucket,
    event, country, region, city,
    count()                                              AS events,
    uniqState(if(user_id != '', user_id, anonymous_id))  AS users
FROM events
GROUP BY bucket, event, country, region, city;

CREATE TABLE IF NOT EXISTS engagement_geo_per_hour AS engagement_geo_per_minute
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, country, region, city, event)
TTL bucket + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_geo_per_hour_mv TO engagement_geo_per_hour AS
SELECT toStartOfHour(bucket) AS bucket, event, country, region, city,
       sum(events) AS events, uniqMergeState(users) AS users
FROM engagement_geo_per_minute
GROUP BY bucket, event, country, region, city;

-- ---------------------------------------------------------------------------------------------
-- active users: HLL-class daily states for DAU/WAU/MAU, and exact user-days for retention.
CREATE TABLE IF NOT EXISTS active_users_per_day
(
    day         Date,
    country     LowCardinality(String),
    device_type LowCardinality(String),
    segment     LowCardinality(String),
    users       AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, country, device_type, segment)
TTL day + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_per_day_mv TO active_users_per_day AS
SELECT toDate(event_time) AS day, country, device_type, segment,
       uniqState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
GROUP BY day, country, device_type, segment;

CREATE TABLE IF NOT EXISTS user_days
(
    day    Date,
    user   String,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, user)
TTL day + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_days_mv TO user_days AS
SELECT toDate(event_time) AS day, if(user_id != '', user_id, anonymous_id) AS user, count() AS events
FROM events
GROUP BY day, user;

-- ---------------------------------------------------------------------------------------------
-- topic_mentions: hashtags of content events and keywords of searches, per minute, region and age band.
CREATE TABLE IF NOT EXISTS topic_mentions_per_minute
(
    bucket   DateTime('UTC'),
    kind     LowCardinality(String),
    term     String,
    region   LowCardinality(String),
    age_band LowCardinality(String),
    mentions SimpleAggregateFunction(sum, UInt64),
    users    AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (kind, bucket, term, region, age_band)
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS topic_mentions_hashtags_mv TO topic_mentions_per_minute AS
SELECT toStartOfMinute(event_time) AS bucket, 'hashtag' AS kind, tag AS term, region, age_band,
       count() AS mentions, uniqState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
ARRAY JOIN hashtags AS tag
GROUP BY bucket, term, region, age_band;

CREATE MATERIALIZED VIEW IF NOT EXISTS topic_mentions_keywords_mv TO topic_mentions_per_minute AS
SELECT toStartOfMinute(event_time) AS bucket, 'keyword' AS kind, word AS term, region, age_band,
       count() AS mentions, uniqState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
ARRAY JOIN arrayDistinct(arrayFilter(w -> length(w) >= 3, splitByNonAlpha(lower(search_query)))) AS word
WHERE event = 'search'
GROUP BY bucket, term, region, age_band;

-- ---------------------------------------------------------------------------------------------
-- ad_performance: counts and money per campaign x creative x segment x device x country.
CREATE TABLE IF NOT EXISTS ad_performance_per_minute
(
    bucket         DateTime('UTC'),
    campaign_id    LowCardinality(String),
    creative_id    LowCardinality(String),
    segment        LowCardinality(String),
    device_type    LowCardinality(String),
    country        LowCardinality(String),
    impressions    SimpleAggregateFunction(sum, UInt64),
    clicks         SimpleAggregateFunction(sum, UInt64),
    conversions    SimpleAggregateFunction(sum, UInt64),
    spend_micros   SimpleAggregateFunction(sum, Int64),
    revenue_micros SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (bucket, campaign_id, creative_id, segment, device_type, country)
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ad_performance_per_minute_mv TO ad_performance_per_minute AS
SELECT
    toStartOfMinute(event_time)                 AS bucket,
    campaign_id, creative_id, segment, device_type, country,
    countIf(event = 'ad_impression')            AS impressions,
    countIf(event = 'ad_click')                 AS clicks,
    countIf(event = 'conversion')               AS conversions,
    sum(spend_micros)                           AS spend_micros,
    sum(revenue_micros)                         AS revenue_micros
FROM events
WHERE event IN ('ad_impression', 'ad_click', 'conversion')
GROUP BY bucket, campaign_id, creative_id, segment, device_type, country;

CREATE TABLE IF NOT EXISTS ad_performance_per_hour AS ad_performance_per_minute
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, campaign_id, creative_id, segment, device_type, country)
TTL bucket + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ad_performance_per_hour_mv TO ad_performance_per_hour AS
SELECT toStartOfHour(bucket) AS bucket, campaign_id, creative_id, segment, device_type, country,
       sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions,
       sum(spend_micros) AS spend_micros, sum(revenue_micros) AS revenue_micros
FROM ad_performance_per_minute
GROUP BY bucket, campaign_id, creative_id, segment, device_type, country;

-- ---------------------------------------------------------------------------------------------
-- Dimensions: latest version wins (ReplacingMergeTree); *_latest views collapse versions without
-- waiting for merges, and dictionaries serve query-time lookups, so a profile that arrives late
-- also relabels historical rows read through dictGet.
CREATE TABLE IF NOT EXISTS users
(
    user_id      String,
    anonymous_id String,
    country      LowCardinality(String),
    region       LowCardinality(String),
    city         LowCardinality(String),
    age_band     LowCardinality(String),
    segment      LowCardinality(String),
    language     LowCardinality(String),
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS users_mv TO users AS
SELECT user_id, anonymous_id, country, region, city, age_band, segment, language, event_time AS updated_at
FROM events
WHERE event = 'identify' AND user_id != '';

CREATE VIEW IF NOT EXISTS users_latest AS
SELECT user_id,
       argMax(country, updated_at) AS country, argMax(region, updated_at) AS region,
       argMax(city, updated_at) AS city, argMax(age_band, updated_at) AS age_band,
       argMax(segment, updated_at) AS segment, argMax(language, updated_at) AS language,
       max(updated_at) AS last_updated_at
FROM users
GROUP BY user_id;

CREATE DICTIONARY IF NOT EXISTS users_dict
(
    user_id  String,
    country  String DEFAULT 'unknown',
    region   String DEFAULT 'unknown',
    city     String DEFAULT 'unknown',
    age_band String DEFAULT 'unknown',
    segment  String DEFAULT 'unknown',
    language String DEFAULT 'unknown'
)
PRIMARY KEY user_id
SOURCE(CLICKHOUSE(TABLE 'users_latest'))
LIFETIME(MIN 5 MAX 30)
LAYOUT(COMPLEX_KEY_HASHED());

CREATE TABLE IF NOT EXISTS posts
(
    post_id    String,
    author_id  String,
    category   LowCardinality(String),
    hashtags   Array(LowCardinality(String)),
    created_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY post_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS posts_mv TO posts AS
SELECT post_id, author_id, category, hashtags, event_time AS created_at
FROM events
WHERE event = 'post_created' AND post_id != '';

CREATE VIEW IF NOT EXISTS posts_latest AS
SELECT post_id, argMax(author_id, created_at) AS author_id, argMax(category, created_at) AS category,
       argMax(hashtags, created_at) AS hashtags, min(created_at) AS first_created_at
FROM posts
GROUP BY post_id;

CREATE DICTIONARY IF NOT EXISTS posts_dict
(
    post_id   String,
    author_id String DEFAULT '',
    category  String DEFAULT 'unknown'
)
PRIMARY KEY post_id
SOURCE(CLICKHOUSE(TABLE 'posts_latest'))
LIFETIME(MIN 5 MAX 30)
LAYOUT(COMPLEX_KEY_HASHED());

-- Campaigns come from the ads service's `campaign_updated` track events (or a direct insert by an
-- operator); budgets drive the pacing query.
CREATE TABLE IF NOT EXISTS campaigns
(
    campaign_id         String,
    name                String,
    daily_budget_micros Int64,
    updated_at          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY campaign_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS campaigns_mv TO campaigns AS
SELECT campaign_id,
       JSONExtractString(properties, 'name')                AS name,
       JSONExtractInt(properties, 'daily_budget_micros')    AS daily_budget_micros,
       event_time                                           AS updated_at
FROM events
WHERE event = 'campaign_updated' AND campaign_id != '';

CREATE VIEW IF NOT EXISTS campaigns_latest AS
SELECT campaign_id, argMax(name, updated_at) AS name,
       argMax(daily_budget_micros, updated_at) AS daily_budget_micros, max(updated_at) AS last_updated_at
FROM campaigns
GROUP BY campaign_id;

CREATE DICTIONARY IF NOT EXISTS campaigns_dict
(
    campaign_id         String,
    name                String DEFAULT '',
    daily_budget_micros Int64 DEFAULT 0
)
PRIMARY KEY campaign_id
SOURCE(CLICKHOUSE(TABLE 'campaigns_latest'))
LIFETIME(MIN 5 MAX 30)
LAYOUT(COMPLEX_KEY_HASHED());
