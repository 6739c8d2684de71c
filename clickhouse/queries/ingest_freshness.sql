-- Freshness of the warehouse: seconds since the newest stored event, and events stored in the
-- last minute (pipeline-health panel and the freshness alert), from the per-second ingest rollup.
-- @unit seconds
-- @column seconds_since_last_event Float64 : now minus the newest stored_at
-- @column events_last_minute UInt64 : events stored in the last 60 seconds
SELECT
    round(dateDiff('millisecond', max(last_stored_at), now64(3)) / 1000, 3) AS seconds_since_last_event,
    sumIf(events, second >= now() - toIntervalSecond(60))                   AS events_last_minute
FROM ingest_per_second
WHERE second >= now() - toIntervalHour(1)
