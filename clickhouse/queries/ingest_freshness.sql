-- Freshness of the warehouse: seconds since the newest stored event, and events stored in the
-- last minute (pipeline-health panel and the freshness alert).
-- @unit seconds
-- @column seconds_since_last_event Float64 : now minus the newest stored_at
-- @column events_last_minute UInt64 : events stored in the last 60 seconds
SELECT
    round(dateDiff('millisecond', max(stored_at), now64(3)) / 1000, 3) AS seconds_since_last_event,
    countIf(stored_at >= now64(3) - toIntervalSecond(60))             AS events_last_minute
FROM events
WHERE stored_at >= now64(3) - toIntervalHour(1)
