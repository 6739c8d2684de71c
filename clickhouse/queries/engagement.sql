-- Events over time, split by one dimension, with the dashboard's filters (unique users: engagement_users,
-- kept apart because merging uniq states costs far more than summing counters).
-- With no filter it reads the one-dimension slices (about 40 rows per bucket); with filters, the
-- wide rollups. Either way it reads the coarsest level whose grain divides interval_s and to which
-- the range is aligned, so a 30-day panel reads hourly rows and a live panel minutes.
-- @unit events
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
-- @column events UInt64 : events
WITH
    toUnixTimestamp({from:DateTime64(3)}) AS from_s,
    toUnixTimestamp({to:DateTime64(3)})   AS to_s,
    -- the grain, chosen once: the coarsest rollup level whose grain divides interval_s and to which
    -- the range is aligned (hour, else 5 minutes, else minute)
    multiIf({interval_s:UInt32} % 3600 = 0 AND from_s % 3600 = 0 AND to_s % 3600 = 0, 3600,
            {interval_s:UInt32} % 300 = 0 AND from_s % 300 = 0 AND to_s % 300 = 0, 300,
            60) AS grain_s,
    -- no filter: the one-dimension slices answer; any filter needs the wide rollups
    ({event:String} = '' AND {country:String} = '' AND {device_type:String} = ''
        AND {segment:String} = '' AND {category:String} = '') AS unfiltered
SELECT time, key, sum(events) AS events
FROM
(
    -- no filter: the slices of the `by` dimension (hourly slices at the hour grain, else per minute)
    SELECT toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time, value AS key, events
    FROM engagement_slices_per_hour
    WHERE unfiltered AND grain_s = 3600
      AND dimension = {by:String}
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    UNION ALL
    SELECT toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time, value AS key, events
    FROM engagement_slices_per_minute
    WHERE unfiltered AND grain_s != 3600
      AND dimension = {by:String}
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    UNION ALL
    -- filters: the wide rollups at the grain
    SELECT
        toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
        multiIf({by:String} = 'all', 'all', {by:String} = 'country', country, {by:String} = 'device_type', device_type,
                {by:String} = 'segment', segment, {by:String} = 'category', category, event) AS key,
        events
    FROM
    (
        SELECT bucket, event, country, device_type, segment, category, events
        FROM engagement_per_hour
        WHERE grain_s = 3600 AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
        UNION ALL
        SELECT bucket, event, country, device_type, segment, category, events
        FROM engagement_per_5m
        WHERE grain_s = 300 AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
        UNION ALL
        SELECT bucket, event, country, device_type, segment, category, events
        FROM engagement_per_minute
        WHERE grain_s = 60 AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    )
    WHERE NOT unfiltered
      AND ({event:String} = '' OR event = {event:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
      AND ({segment:String} = '' OR segment = {segment:String})
      AND ({category:String} = '' OR category = {category:String})
)
GROUP BY time, key
ORDER BY time, key
