-- kafka-engine ingestion: the server reads the family topics itself, into the same `events`.
--
-- Applied only by `pulse migrate --ingestion kafka-engine` (PULSE_CLICKHOUSE__INGESTION), after the
-- base migrations, in the same ledger. Never run `pulse loader` against a warehouse that has these
-- tables: every event would be stored twice (pulse refuses; docs/deployment.md, "Ingestion modes").
--
--   kafka_<family>  (Kafka engine, one per topic family and consumer group)
--        └─ kafka_<family>_mv ──> kafka_inbox  (Null: rows pass through, nothing is stored)
--                                    ├─ kafka_inbox_events_mv   ──> events          (reason = '')
--                                    └─ kafka_inbox_rejected_mv ──> rejected_events (reason != '')
--   kafka_deadletter (the collector's dead-letter topic) ─ kafka_deadletter_mv ──> rejected_events
--
-- Delivery is at-least-once: a block is written, then its offsets are committed, so a crash or a
-- rebalance in between stores that block again (docs/deployment.md says what this costs).
-- Brokers and credentials come from the named collection `pulse_kafka`, topic and group names from
-- the macro {pulse_topic_prefix} (settings.kafka.topic_prefix): this file holds neither.
--
-- Every view below is total: text is converted with *OrNull/*OrDefault and a message that is not a
-- valid enriched event becomes a rejected_events row with its reason, because a view that throws
-- makes the Kafka engine retry the whole block, forever, behind the poison message.

-- The message, as the collector produces it (pulse.contracts.events.EnrichedEvent, one JSON object
-- per message, keys = column names). Times stay text here so that a bad one is rejected with a
-- reason instead of becoming 1970-01-01; numbers and arrays that do not parse fill _error.
CREATE TABLE IF NOT EXISTS kafka_interactions
(
    message_id      String,
    call            String,
    event           String,
    event_time      String,
    received_at     String,
    sent_at         Nullable(String),
    user_id         String,
    anonymous_id    String,
    source          String,
    session_id      String,
    country         String,
    region          String,
    city            String,
    age_band        String,
    segment         String,
    language        String,
    device_type     String,
    os              String,
    browser         String,
    referrer_source String,
    post_id         String,
    author_id       String,
    category        String,
    hashtags        Array(String),
    search_query    String,
    campaign_id     String,
    creative_id     String,
    spend_micros    Int64,
    revenue_micros  Int64,
    properties      String,
    flags           Array(String)
)
ENGINE = Kafka(pulse_kafka)
SETTINGS kafka_topic_list = '{pulse_topic_prefix}.interactions',
         kafka_group_name = '{pulse_topic_prefix}-warehouse-interactions',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream',
         -- One consumer per table and server: the group spreads the partitions over the replicas.
         -- Each consumer flushes its own blocks, and an insert's cost is mostly fixed (the views,
         -- a part per table: docs/deployment.md), so more consumers cost more CPU per event; and a
         -- consumer that joins late makes the group rebalance, the one time blocks are read twice.
         kafka_num_consumers = 1,
         -- seconds-level freshness (default 7.5 s); a block is also cut at kafka_max_block_size rows,
         -- which bounds what one crash can store twice
         kafka_flush_interval_ms = 1000,
         kafka_max_block_size = 65536;

CREATE TABLE IF NOT EXISTS kafka_content AS kafka_interactions
ENGINE = Kafka(pulse_kafka)
SETTINGS kafka_topic_list = '{pulse_topic_prefix}.content',
         kafka_group_name = '{pulse_topic_prefix}-warehouse-content',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream',
         kafka_num_consumers = 1,
         kafka_flush_interval_ms = 1000,
         kafka_max_block_size = 65536;

CREATE TABLE IF NOT EXISTS kafka_ads AS kafka_interactions
ENGINE = Kafka(pulse_kafka)
SETTINGS kafka_topic_list = '{pulse_topic_prefix}.ads',
         kafka_group_name = '{pulse_topic_prefix}-warehouse-ads',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream',
         kafka_num_consumers = 1,
         kafka_flush_interval_ms = 1000,
         kafka_max_block_size = 65536;

CREATE TABLE IF NOT EXISTS kafka_identities AS kafka_interactions
ENGINE = Kafka(pulse_kafka)
SETTINGS kafka_topic_list = '{pulse_topic_prefix}.identities',
         kafka_group_name = '{pulse_topic_prefix}-warehouse-identities',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream',
         kafka_num_consumers = 1,
         kafka_flush_interval_ms = 1000,
         kafka_max_block_size = 65536;

-- Where every family's messages meet, with their Kafka coordinates and parse error: the checks
-- below are written once, for all families. `reason` is computed on insert; '' means valid.
CREATE TABLE IF NOT EXISTS kafka_inbox AS kafka_interactions ENGINE = Null;

ALTER TABLE kafka_inbox
    ADD COLUMN IF NOT EXISTS kafka_topic     String,
    ADD COLUMN IF NOT EXISTS kafka_partition UInt16,
    ADD COLUMN IF NOT EXISTS kafka_offset    UInt64,
    ADD COLUMN IF NOT EXISTS kafka_time      Nullable(DateTime64(3, 'UTC')),
    ADD COLUMN IF NOT EXISTS parse_error     String,
    ADD COLUMN IF NOT EXISTS raw_message     String,
    ADD COLUMN IF NOT EXISTS reason          String MATERIALIZED multiIf(
        parse_error != '', concat('not an enriched event: ', parse_error),
        message_id = '', 'message_id is missing',
        call = '', 'call is missing',
        event = '', 'event is missing',
        -- toDateTime64OrNull('') is 1970-01-01, not NULL: a missing time is caught first
        event_time = '', 'event_time is missing',
        isNull(toDateTime64OrNull(event_time, 3, 'UTC')), concat('event_time is not a time: "', event_time, '"'),
        received_at = '', 'received_at is missing',
        isNull(toDateTime64OrNull(received_at, 3, 'UTC')), concat('received_at is not a time: "', received_at, '"'),
        nullIf(sent_at, '') IS NOT NULL AND isNull(toDateTime64OrNull(sent_at, 3, 'UTC')),
            concat('sent_at is not a time: "', sent_at, '"'),
        '');

CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_interactions_mv TO kafka_inbox AS
SELECT *, _topic AS kafka_topic, _partition AS kafka_partition, _offset AS kafka_offset,
       _timestamp_ms AS kafka_time, _error AS parse_error, _raw_message AS raw_message
FROM kafka_interactions;

CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_content_mv TO kafka_inbox AS
SELECT *, _topic AS kafka_topic, _partition AS kafka_partition, _offset AS kafka_offset,
       _timestamp_ms AS kafka_time, _error AS parse_error, _raw_message AS raw_message
FROM kafka_content;

CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_ads_mv TO kafka_inbox AS
SELECT *, _topic AS kafka_topic, _partition AS kafka_partition, _offset AS kafka_offset,
       _timestamp_ms AS kafka_time, _error AS parse_error, _raw_message AS raw_message
FROM kafka_ads;

CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_identities_mv TO kafka_inbox AS
SELECT *, _topic AS kafka_topic, _partition AS kafka_partition, _offset AS kafka_offset,
       _timestamp_ms AS kafka_time, _error AS parse_error, _raw_message AS raw_message
FROM kafka_identities;

-- Valid messages into `events`: the same columns the loader writes, so every rollup view of
-- `events` fires as it does for the loader and no query or dashboard changes.
CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_inbox_events_mv TO events AS
SELECT
    message_id, call, event,
    toDateTime64OrDefault(event_time, 3, 'UTC')  AS event_time,
    toDateTime64OrDefault(received_at, 3, 'UTC') AS received_at,
    toDateTime64OrNull(nullIf(sent_at, ''), 3, 'UTC') AS sent_at,
    user_id, anonymous_id, source, session_id,
    country, region, city, age_band, segment, language,
    device_type, os, browser, referrer_source,
    post_id, author_id, category, hashtags, search_query,
    campaign_id, creative_id, spend_micros, revenue_micros,
    properties, flags,
    kafka_topic, kafka_partition, kafka_offset
FROM kafka_inbox
WHERE reason = '';

-- Invalid ones into the dead-letter table, with the reason and the message as it was on Kafka
-- (the parser's raw message; for a message that parsed but failed a check, the parsed row as JSON).
CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_inbox_rejected_mv TO rejected_events AS
SELECT
    ifNull(kafka_time, now64(3))                                              AS failed_at,
    source,
    reason,
    if(parse_error != '', 'undecodable', 'invalid')                           AS reason_code,
    if(raw_message != '', raw_message, formatRowNoNewline('JSONEachRow', *))  AS payload,
    kafka_topic,
    kafka_partition,
    kafka_offset
FROM kafka_inbox
WHERE reason != '';

-- The collector's dead-letter topic (pulse.contracts: failed_at ISO-8601, source, reason,
-- reason_code, payload), as the loader stores it; a message that does not even parse is kept too.
CREATE TABLE IF NOT EXISTS kafka_deadletter
(
    failed_at   String,
    source      String,
    reason      String,
    reason_code String,
    payload     String
)
ENGINE = Kafka(pulse_kafka)
SETTINGS kafka_topic_list = '{pulse_topic_prefix}.deadletter',
         kafka_group_name = '{pulse_topic_prefix}-warehouse-deadletter',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream',
         kafka_num_consumers = 1,
         kafka_flush_interval_ms = 1000,
         kafka_max_block_size = 65536;

CREATE MATERIALIZED VIEW IF NOT EXISTS kafka_deadletter_mv TO rejected_events AS
SELECT
    coalesce(parseDateTime64BestEffortOrNull(failed_at, 3, 'UTC'), _timestamp_ms, now64(3)) AS failed_at,
    source,
    if(_error != '', concat('not a dead letter: ', _error), reason)                        AS reason,
    if(_error != '', 'undecodable', reason_code)                                           AS reason_code,
    if(_error != '', _raw_message, payload)                                                AS payload,
    _topic                                                                                 AS kafka_topic,
    toUInt16(_partition)                                                                   AS kafka_partition,
    _offset                                                                                AS kafka_offset
FROM kafka_deadletter;
