-- Conversion funnel of a journey (windowFunnel): users reaching each step within window_s of the
-- first. Journeys: engagement = view -> like -> share; ads = ad_impression -> ad_click -> conversion.
-- With no filter, the default window and a 1-hour range ending within 10 s of the live snapshot's end
-- (the dashboard's last hour), it reads `funnels_last_hour`, recomputed by the engine every 5 s.
-- @unit users
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param journey String = engagement in engagement|ads : which journey
-- @param window_s UInt32 = 3600 : the longest time from the first step to the last
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @column step UInt8 : step number, 1 is the entry
-- @column name String : the step's event
-- @column users UInt64 : users who reached this step
-- @column conversion Float64 : users / users of step 1
WITH
    if({journey:String} = 'ads', ['ad_impression', 'ad_click', 'conversion'], ['view', 'like', 'share']) AS steps,
    -- the question is the dashboard's last hour and a snapshot of it is fresh: read the snapshot
    ({country:String} = '' AND {device_type:String} = '' AND {window_s:UInt32} = 3600
        AND dateDiff('millisecond', {from:DateTime64(3)}, {to:DateTime64(3)}) = 3600000
        AND (SELECT count() FROM funnels_last_hour
             WHERE abs(dateDiff('millisecond', window_to, {to:DateTime64(3)})) <= 10000) > 0) AS from_snapshot
SELECT
    step,
    steps[step] AS name,
    users,
    round(users / max(users) OVER (), 4) AS conversion
FROM
(
    -- the dashboard's last hour: the live snapshot
    SELECT step, users
    FROM funnels_last_hour
    WHERE from_snapshot AND journey = {journey:String}
      AND window_to = (SELECT max(window_to) FROM funnels_last_hour)
    UNION ALL
    -- anything else: raw events
    SELECT step, count() AS users
    FROM
    (
        SELECT windowFunnel({window_s:UInt32} * 1000)(
                   toUInt64(toUnixTimestamp64Milli(event_time)), event = steps[1], event = steps[2], event = steps[3]) AS level
        FROM events
        WHERE NOT from_snapshot
          AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
          AND has(steps, event)
          AND ({country:String} = '' OR country = {country:String})
          AND ({device_type:String} = '' OR device_type = {device_type:String})
        GROUP BY user_key  -- the hashed user (or anonymous) id: cheaper to group than the strings
    )
    ARRAY JOIN range(1, level + 1) AS step
    GROUP BY step
)
ORDER BY step
