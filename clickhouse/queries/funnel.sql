-- Conversion funnel of a journey (windowFunnel): users reaching each step within window_s of the
-- first. Journeys: engagement = view -> like -> share; ads = ad_impression -> ad_click -> conversion.
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
WITH if({journey:String} = 'ads', ['ad_impression', 'ad_click', 'conversion'], ['view', 'like', 'share']) AS steps
SELECT
    step,
    steps[step] AS name,
    count()     AS users,
    round(users / max(users) OVER (), 4) AS conversion
FROM
(
    SELECT windowFunnel({window_s:UInt32} * 1000)(
               toUInt64(toUnixTimestamp64Milli(event_time)), event = steps[1], event = steps[2], event = steps[3]) AS level
    FROM events
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
      AND has(steps, event)
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
    GROUP BY user_key  -- the hashed user (or anonymous) id: cheaper to group than the strings
)
ARRAY JOIN range(1, level + 1) AS step
GROUP BY step
ORDER BY step
