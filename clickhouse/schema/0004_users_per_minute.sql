-- Unique users per minute for everybody: the engagement score's denominator without the wide rollup.
--
-- Why: with no filter, `engagement_score` merged ~10,000 small uniq states per minute from
-- `engagement_per_minute` (every event x country x device x segment x category). One row per minute
-- holding one uniqCombined(14) state -- the precision of Redis' HyperLogLog in the hot layer:
-- 16,384 cells, exact while small, 0.81% standard error, at most 12 KiB -- makes a 1-hour panel
-- merge 60 states. Fed from raw events (dedup tokens apply as for every view of `events`).

CREATE TABLE IF NOT EXISTS users_per_minute
(
    bucket DateTime('UTC'),
    users  AggregateFunction(uniqCombined(14), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY bucket
TTL bucket + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS users_per_minute_mv TO users_per_minute AS
SELECT toStartOfMinute(event_time) AS bucket, uniqCombinedState(14)(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
GROUP BY bucket;

-- Backfill from the raw table while empty (so applying this file again cannot count twice).
INSERT INTO users_per_minute
SELECT toStartOfMinute(event_time) AS bucket, uniqCombinedState(14)(if(user_id != '', user_id, anonymous_id)) AS users
FROM events
WHERE (SELECT count() FROM users_per_minute) = 0
GROUP BY bucket;
