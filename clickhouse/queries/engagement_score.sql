-- Engagement score over time: weighted interactions per active user (like 1, comment 2, save 2,
-- share 3, follow 3), with the dashboard's filters. With no filter: the event slices and the
-- per-minute users (60 states an hour); with filters: the wide minute rollup.
-- @unit score
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param interval_s UInt32 = 60 : bucket width in seconds (a multiple of 60)
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param segment String = '' : user segment; '' means all
-- @param category String = '' : content category; '' means all
-- @column time DateTime : start of the bucket
-- @column weighted UInt64 : weighted interactions
-- @column users UInt64 : unique users (uniq-class estimate)
-- @column score Float64 : weighted / users
SELECT
    time,
    sum(weighted)                                                    AS weighted,
    sum(users)                                                       AS users,
    if(users = 0, 0, round(weighted / users, 4))                     AS score
FROM
(
    -- no filter: interactions from the event slices ...
    SELECT
        toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
        sumIf(events, value = 'like') + 2 * sumIf(events, value IN ('comment', 'save'))
            + 3 * sumIf(events, value IN ('share', 'follow'))           AS weighted,
        toUInt64(0)                                                      AS users
    FROM engagement_slices_per_minute
    WHERE {country:String} = '' AND {device_type:String} = '' AND {segment:String} = '' AND {category:String} = ''
      AND dimension = 'event'
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    GROUP BY time
    UNION ALL
    -- ... and users from the per-minute states
    SELECT
        toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
        toUInt64(0)                                                      AS weighted,
        uniqCombinedMerge(14)(users)                                     AS users
    FROM users_per_minute
    WHERE {country:String} = '' AND {device_type:String} = '' AND {segment:String} = '' AND {category:String} = ''
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    GROUP BY time
    UNION ALL
    -- filters: the wide minute rollup
    SELECT
        toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
        sumIf(events, event = 'like') + 2 * sumIf(events, event IN ('comment', 'save'))
            + 3 * sumIf(events, event IN ('share', 'follow'))            AS weighted,
        uniqMerge(users)                                                 AS users
    FROM engagement_per_minute
    WHERE NOT ({country:String} = '' AND {device_type:String} = '' AND {segment:String} = '' AND {category:String} = '')
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
      AND ({segment:String} = '' OR segment = {segment:String})
      AND ({category:String} = '' OR category = {category:String})
    GROUP BY time
)
GROUP BY time
ORDER BY time
