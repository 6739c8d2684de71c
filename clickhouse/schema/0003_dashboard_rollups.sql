-- Narrow rollups for the dashboard's default views, a hashed user key, and a cheap freshness feed.
--
-- Why: the 0002 rollups keep every filter dimension (event x country x device x segment x category),
-- so the unfiltered views that most people look at still read and merge thousands of rows per
-- bucket -- worst for unique users, where each row holds a uniq state. A "slice" keeps one
-- dimension at a time: (bucket, dimension, value), about 40 rows per bucket whatever the traffic.
-- A named query reads the slices when its filters allow it and the wide rollups otherwise, so
-- every filter combination still works and every number has one definition (docs/analytics.md).
--
-- Every slice is fed from the insert blocks of the rollup below it (the cascade of 0002), so the
-- same insert_deduplication_token that makes a redelivered block vanish from `events` makes it
-- vanish here too (deduplicate_blocks_in_dependent_materialized_views). The backfills at the end
-- fill the new tables from what the wide rollups already hold; each runs only while its target is
-- empty, so applying this file again cannot count anything twice.

-- ---------------------------------------------------------------------------------------------
-- user_key: the user (or anonymous id) hashed to a UInt64. Grouping and counting users by it is
-- several times cheaper than by the string ids (sessions, funnels, attribution, ad-hoc uniq()).
-- MATERIALIZED: computed by the engine on insert, never sent by the loader; old parts compute it
-- on read until merged.
ALTER TABLE events ADD COLUMN IF NOT EXISTS user_key UInt64 MATERIALIZED cityHash64(if(user_id != '', user_id, anonymous_id));

-- ---------------------------------------------------------------------------------------------
-- engagement slices: events per minute (30 d) and events + unique users per hour (90 d), by one
-- dimension at a time. dimension is 'all' (value 'all'), 'event', 'country', 'device_type',
-- 'segment' or 'category' -- the `by` values of the engagement queries.
--
-- Unique users here are uniqCombined states (HyperLogLog with 2^17 cells, exact while small,
-- ~0.3% standard error, at most ~96 KiB a state) rather than the wide rollups' uniq states
-- (adaptive sample of up to 65,536 hashes, 256 KiB): a slice row holds a whole hour's users,
-- and merging 24 of those costs ~45 ms instead of ~110 ms. They are fed from raw events because
-- a uniq state cannot be turned into a uniqCombined one.
CREATE TABLE IF NOT EXISTS engagement_slices_per_minute
(
    bucket    DateTime('UTC'),
    dimension LowCardinality(String),
    value     LowCardinality(String),
    events    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (dimension, bucket, value)
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_slices_per_minute_mv TO engagement_slices_per_minute AS
SELECT bucket, slice.1 AS dimension, slice.2 AS value, sum(events) AS events
FROM engagement_per_minute
ARRAY JOIN [('all', 'all'), ('event', event), ('country', country), ('device_type', device_type),
            ('segment', segment), ('category', category)] AS slice
GROUP BY bucket, dimension, value;

CREATE TABLE IF NOT EXISTS engagement_slices_per_hour
(
    bucket    DateTime('UTC'),
    dimension LowCardinality(String),
    value     LowCardinality(String),
    events    SimpleAggregateFunction(sum, UInt64),
    users     AggregateFunction(uniqCombined, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (dimension, bucket, value)
TTL bucket + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_slices_per_hour_mv TO engagement_slices_per_hour AS
SELECT toStartOfHour(event_time) AS bucket, slice.1 AS dimension, slice.2 AS value,
       count() AS events, uniqCombinedState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
ARRAY JOIN [('all', 'all'), ('event', event), ('country', country), ('device_type', device_type),
            ('segment', segment), ('category', category)] AS slice
GROUP BY bucket, dimension, value;

-- ---------------------------------------------------------------------------------------------
-- active-user slices: one daily uniqCombined state for everybody and one per country, device type
-- and segment, so DAU/WAU/MAU with no filter or one filter merge ~30 states instead of thousands.
CREATE TABLE IF NOT EXISTS active_user_slices_per_day
(
    day       Date,
    dimension LowCardinality(String),
    value     LowCardinality(String),
    users     AggregateFunction(uniqCombined, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (dimension, value, day)
TTL day + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS active_user_slices_per_day_mv TO active_user_slices_per_day AS
SELECT toDate(event_time) AS day, slice.1 AS dimension, slice.2 AS value,
       uniqCombinedState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
ARRAY JOIN [('all', 'all'), ('country', country), ('device_type', device_type), ('segment', segment)] AS slice
GROUP BY day, dimension, value;

-- ---------------------------------------------------------------------------------------------
-- topic mentions without the region x age-band fan-out: what the unfiltered trending panel and
-- sparklines read (per minute, so 1-, 5- and 15-minute windows all come from it).
CREATE TABLE IF NOT EXISTS topic_mentions_by_term_per_minute
(
    bucket   DateTime('UTC'),
    kind     LowCardinality(String),
    term     String,
    mentions SimpleAggregateFunction(sum, UInt64),
    users    AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (kind, bucket, term)
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS topic_mentions_by_term_per_minute_mv TO topic_mentions_by_term_per_minute AS
SELECT bucket, kind, term, sum(mentions) AS mentions, uniqMergeState(users) AS users
FROM topic_mentions_per_minute
GROUP BY bucket, kind, term;

-- ---------------------------------------------------------------------------------------------
-- ingest_per_second: events by the second they became visible (stored_at), kept 2 hours, so the
-- freshness panel and alert read a few thousand rows instead of the last hour of raw events.
CREATE TABLE IF NOT EXISTS ingest_per_second
(
    second         DateTime('UTC'),
    events         SimpleAggregateFunction(sum, UInt64),
    last_stored_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toStartOfHour(second)
ORDER BY second
TTL second + INTERVAL 2 HOUR
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_per_second_mv TO ingest_per_second AS
SELECT toStartOfSecond(stored_at) AS second, count() AS events, max(stored_at) AS last_stored_at
FROM events
GROUP BY second;

-- ---------------------------------------------------------------------------------------------
-- Backfills: fill the new tables from what is already stored when they are still empty (a fresh
-- install has nothing to copy; an upgraded one keeps its history visible in the new panels --
-- the raw table's 30 days for the slices fed from raw events).
INSERT INTO engagement_slices_per_minute
SELECT bucket, slice.1 AS dimension, slice.2 AS value, sum(events) AS events
FROM engagement_per_minute
ARRAY JOIN [('all', 'all'), ('event', event), ('country', country), ('device_type', device_type),
            ('segment', segment), ('category', category)] AS slice
WHERE (SELECT count() FROM engagement_slices_per_minute) = 0
GROUP BY bucket, dimension, value;

INSERT INTO engagement_slices_per_hour
SELECT toStartOfHour(event_time) AS bucket, slice.1 AS dimension, slice.2 AS value,
       count() AS events, uniqCombinedState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
ARRAY JOIN [('all', 'all'), ('event', event), ('country', country), ('device_type', device_type),
            ('segment', segment), ('category', category)] AS slice
WHERE (SELECT count() FROM engagement_slices_per_hour) = 0
GROUP BY bucket, dimension, value;

INSERT INTO active_user_slices_per_day
SELECT toDate(event_time) AS day, slice.1 AS dimension, slice.2 AS value,
       uniqCombinedState(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
ARRAY JOIN [('all', 'all'), ('country', country), ('device_type', device_type), ('segment', segment)] AS slice
WHERE (SELECT count() FROM active_user_slices_per_day) = 0
GROUP BY day, dimension, value;

INSERT INTO topic_mentions_by_term_per_minute
SELECT bucket, kind, term, sum(mentions) AS mentions, uniqMergeState(users) AS users
FROM topic_mentions_per_minute
WHERE (SELECT count() FROM topic_mentions_by_term_per_minute) = 0
GROUP BY bucket, kind, term;
