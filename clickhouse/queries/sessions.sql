-- Sessions: each user's events split where they pause longer than gap_s (30 minutes), over raw
-- events in the range (a session crossing the range's edge is cut there): the view
-- `sessions_in_range` (0008), the one definition. With no filter, the default gap and a 1-hour range
-- ending within 10 s of the live snapshot's end (the dashboard's last hour), it reads
-- `sessions_last_hour`, which the engine recomputes every 5 s from that same view.
-- @unit sessions
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param gap_s UInt32 = 1800 : inactivity that ends a session, in seconds
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @column sessions UInt64 : sessions
-- @column bounces UInt64 : sessions of a single event
-- @column bounce_rate Float64 : bounces / sessions
-- @column total_duration_ms Int64 : sum over sessions of last minus first event time
-- @column mean_duration_s Float64 : mean session duration in seconds
-- @column mean_depth Float64 : mean events per session
WITH
    -- the question is the dashboard's last hour and a snapshot of it is fresh: read the snapshot
    ({country:String} = '' AND {device_type:String} = '' AND {gap_s:UInt32} = 1800
        AND dateDiff('millisecond', {from:DateTime64(3)}, {to:DateTime64(3)}) = 3600000
        AND (SELECT count() FROM sessions_last_hour
             WHERE abs(dateDiff('millisecond', window_to, {to:DateTime64(3)})) <= 10000) > 0) AS from_snapshot
SELECT
    sessions,
    bounces,
    if(sessions = 0, 0, round(bounces / sessions, 4))                  AS bounce_rate,
    total_duration_ms,
    if(sessions = 0, 0, round(total_duration_ms / sessions / 1000, 3)) AS mean_duration_s,
    if(sessions = 0, 0, round(total_depth / sessions, 3))              AS mean_depth
FROM
(
    -- the dashboard's last hour: the live snapshot
    SELECT sessions, bounces, total_duration_ms, total_depth
    FROM sessions_last_hour
    WHERE from_snapshot AND abs(dateDiff('millisecond', window_to, {to:DateTime64(3)})) <= 10000
    LIMIT 1
    UNION ALL
    -- anything else: raw events (a constant-false WHERE reads nothing)
    SELECT sessions, bounces, total_duration_ms, total_depth
    FROM sessions_in_range(from = {from:DateTime64(3)}, to = {to:DateTime64(3)}, gap_s = {gap_s:UInt32},
                           country = {country:String}, device_type = {device_type:String})
    WHERE NOT from_snapshot
)
