-- Raw enriched events, the per-minute rollup fed from them, and the loader's bookkeeping.
--
-- Exactly-once under Kafka redelivery: the loader inserts one Kafka offset range per block with
-- insert_deduplication_token = '<topic>/<partition>/<first>-<last>'. A re-inserted range is
-- dropped by `events` (non_replicated_deduplication_window) and, through
-- deduplicate_blocks_in_dependent_materialized_views (on by default), by every rollup below it.

CREATE TABLE IF NOT EXISTS events
(
    message_id      String,
    call            LowCardinality(String),
    event           LowCardinality(String),
    event_time      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    sent_at         Nullable(DateTime64(3, 'UTC')),
    user_id         String,
    anonymous_id    String,
    source          LowCardinality(String),
    session_id      String,
    country         LowCardinality(String),
    region          LowCardinality(String),
    city            LowCardinality(String),
    age_band        LowCardinality(String),
    segment         LowCardinality(String),
    language        LowCardinality(String),
    device_type     LowCardinality(String),
    os              LowCardinality(String),
    browser         LowCardinality(String),
    referrer_source LowCardinality(String),
    post_id         String,
    author_id       String,
    category        LowCardinality(String),
    hashtags        Array(LowCardinality(String)),
    search_query    String,
    campaign_id     LowCardinality(String),
    creative_id     LowCardinality(String),
    spend_micros    Int64,
    revenue_micros  Int64,
    properties      String CODEC(ZSTD(3)),
    flags           Array(LowCardinality(String)),
    kafka_topic     LowCardinality(String),
    kafka_partition UInt16,
    kafka_offset    UInt64,
    stored_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toDate(event_time)
ORDER BY (event, event_time)
TTL toDateTime(event_time) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- events_per_minute: the first rollup. One row per minute x event x country x device after merges.
CREATE TABLE IF NOT EXISTS events_per_minute
(
    minute         DateTime('UTC'),
    event          LowCardinality(String),
    country        LowCardinality(String),
    device_type    LowCardinality(String),
    events         SimpleAggregateFunction(sum, UInt64),
    users          AggregateFunction(uniq, String),
    last_stored_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, event, country, device_type)
TTL minute + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_per_minute_mv TO events_per_minute AS
SELECT
    toStartOfMinute(event_time)                       AS minute,
    event,
    country,
    device_type,
    count()                                           AS events,
    uniqState(if(user_id != '', user_id, anonymous_id)) AS users,
    max(stored_at)                                    AS last_stored_at
FROM events
GROUP BY minute, event, country, device_type;

-- The loader writes the offset range it is about to insert before inserting it, so that after
-- a crash it can rebuild exactly the same block (same token) instead of a differently cut one.
CREATE TABLE IF NOT EXISTS loader_batches
(
    topic        LowCardinality(String),
    partition    UInt16,
    first_offset UInt64,
    last_offset  UInt64,
    token        String,
    planned_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (topic, partition, first_offset)
TTL toDateTime(planned_at) + INTERVAL 7 DAY;

-- Messages on warehouse topics that are not valid enriched events, with the reason.
CREATE TABLE IF NOT EXISTS loader_dead_letters
(
    topic        LowCardinality(String),
    partition    UInt16,
    offset       UInt64,
    raw_message  String CODEC(ZSTD(3)),
    error        String,
    failed_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (topic, partition, offset)
TTL toDateTime(failed_at) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;
