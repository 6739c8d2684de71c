-- Sessions: each user's events split where they pause longer than gap_s (30 minutes), over raw
-- events in the range (a session crossing the range's edge is cut there). With no filter, the default
-- gap and a 1-hour range ending within 10 s of the live snapshot's end (the dashboard's last hour),
-- it reads `sessions_last_hour`, recomputed by the engine every 5 s with this same definition.
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
    -- anything else: raw events
    SELECT count() AS sessions, countIf(depth = 1) AS bounces, toInt64(sum(duration_ms)) AS total_duration_ms,
           sum(depth) AS total_depth
    FROM
    (
        SELECT toUInt64(length(session)) AS depth, session[-1] - session[1] AS duration_ms
        FROM
        (
            SELECT arraySort(groupArray(toUnixTimestamp64Milli(event_time))) AS times
            FROM events
            WHERE NOT from_snapshot
              AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
              AND ({country:String} = '' OR country = {country:String})
              AND ({device_type:String} = '' OR device_type = {device_type:String})
            GROUP BY user_key  -- the hashed user (or anonymous) id: cheaper to group than the strings
        )
        ARRAY JOIN arraySplit((t, i) -> i > 1 AND t - times[i - 1] > {gap_s:UInt32} * 1000, times, arrayEnumerate(times)) AS session
    )
    HAVING NOT from_snapshot
)
