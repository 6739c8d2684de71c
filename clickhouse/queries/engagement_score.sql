-- Engagement score over time: weighted interactions per active user (like 1, comment 2, save 2,
-- share 3, follow 3), from the minute rollup, with the dashboard's filters.
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
-- @column users UInt64 : unique users (uniq)
-- @column score Float64 : weighted / users
SELECT
    toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
    sumIf(events, event = 'like') + 2 * sumIf(events, event IN ('comment', 'save'))
        + 3 * sumIf(events, event IN ('share', 'follow'))            AS weighted,
    uniqMerge(users)                                                 AS users,
    if(users = 0, 0, round(weighted / users, 4))                     AS score
FROM engagement_per_minute
WHERE bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
  AND ({country:String} = '' OR country = {country:String})
  AND ({device_type:String} = '' OR device_type = {device_type:String})
  AND ({segment:String} = '' OR segment = {segment:String})
  AND ({category:String} = '' OR category = {category:String})
GROUP BY time
ORDER BY time
