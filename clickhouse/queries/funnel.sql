-- Conversion funnel of a journey (windowFunnel): users reaching each step within window_s of the
-- first. Journeys (`funnel_steps`): engagement = view -> like -> share; ads = ad_impression ->
-- ad_click -> conversion. The counting is the view `funnel_in_range` (0008), the one definition.
-- With no filter, the default window and a 1-hour range ending within 10 s of the live snapshot's
-- end (the dashboard's last hour), it reads `funnels_last_hour`, recomputed by the engine every 5 s
-- from that same view.
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
    -- the question is the dashboard's last hour and a snapshot of it is fresh: read the snapshot
    ({country:String} = '' AND {device_type:String} = '' AND {window_s:UInt32} = 3600
        AND dateDiff('millisecond', {from:DateTime64(3)}, {to:DateTime64(3)}) = 3600000
        AND (SELECT count() FROM funnels_last_hour
             WHERE abs(dateDiff('millisecond', window_to, {to:DateTime64(3)})) <= 10000) > 0) AS from_snapshot
SELECT
    step,
    funnel_steps({journey:String})[step] AS name,
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
    -- anything else: raw events (a constant-false WHERE reads nothing)
    SELECT step, users
    FROM funnel_in_range(from = {from:DateTime64(3)}, to = {to:DateTime64(3)}, journey = {journey:String},
                         window_s = {window_s:UInt32}, country = {country:String}, device_type = {device_type:String})
    WHERE NOT from_snapshot
)
ORDER BY step
