-- Unique users over time, split by one dimension, with the dashboard's filters (the uniq states of
-- the engagement rollups; heavier than `engagement`'s counters, so a panel of its own).
-- Hourly with no filter (an hour-aligned range, interval a multiple of an hour) it reads the
-- one-dimension hourly slices: ~40 states an hour instead of thousands. Otherwise the wide rollups,
-- at the coarsest level whose grain divides interval_s and to which the range is aligned.
-- @unit users
-- @api-only unique users over time for exports and the API; panels show events (`engagement`) and DAU (`active_users`)
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param interval_s UInt32 = 60 : bucket width in seconds (a multiple of 60)
-- @param by String = event in event|country|device_type|segment|category|all : the dimension each series shows ('all': one series)
-- @param event String = '' : event name; '' means all
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param segment String = '' : user segment; '' means all
-- @param category String = '' : content category; '' means all
-- @column time DateTime : start of the bucket
-- @column key String : value of the `by` dimension
-- @column users UInt64 : unique users (uniq-class estimate: exact while small, within 1% above)
WITH
    toUnixTimestamp({from:DateTime64(3)}) AS from_s,
    toUnixTimestamp({to:DateTime64(3)})   AS to_s,
    -- the grain, chosen once: the coarsest rollup level whose grain divides interval_s and to which
    -- the range is aligned (hour, else 5 minutes, else minute)
    multiIf({interval_s:UInt32} % 3600 = 0 AND from_s % 3600 = 0 AND to_s % 3600 = 0, 3600,
            {interval_s:UInt32} % 300 = 0 AND from_s % 300 = 0 AND to_s % 300 = 0, 300,
            60) AS grain_s,
    -- hourly with no filter: the one-dimension hourly slices answer; anything else the wide rollups
    ({event:String} = '' AND {country:String} = '' AND {device_type:String} = ''
        AND {segment:String} = '' AND {category:String} = '' AND grain_s = 3600) AS from_slices
SELECT time, key, users
FROM
(
    -- no filter, hourly: the slices of the `by` dimension (uniqCombined states)
    SELECT toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time, value AS key,
           uniqCombinedMerge(users) AS users
    FROM engagement_slices_per_hour
    WHERE from_slices
      AND dimension = {by:String}
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    GROUP BY time, key
    UNION ALL
    -- otherwise: the wide rollups at the grain (uniq states)
    SELECT
        toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
        multiIf({by:String} = 'all', 'all', {by:String} = 'country', country, {by:String} = 'device_type', device_type,
                {by:String} = 'segment', segment, {by:String} = 'category', category, event) AS key,
        uniqMerge(users) AS users
    FROM
    (
        SELECT bucket, event, country, device_type, segment, category, events, users
        FROM engagement_per_hour
        WHERE grain_s = 3600 AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
        UNION ALL
        SELECT bucket, event, country, device_type, segment, category, events, users
        FROM engagement_per_5m
        WHERE grain_s = 300 AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
        UNION ALL
        SELECT bucket, event, country, device_type, segment, category, events, users
        FROM engagement_per_minute
        WHERE grain_s = 60 AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    )
    WHERE NOT from_slices
      AND ({event:String} = '' OR event = {event:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
      AND ({segment:String} = '' OR segment = {segment:String})
      AND ({category:String} = '' OR category = {category:String})
    GROUP BY time, key
)
ORDER BY time, key
