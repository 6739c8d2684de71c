-- DAU, WAU and MAU for the day that ends the range, and stickiness (DAU / MAU).
-- With at most one filter it merges the daily slices (one state a day); with more, the daily rollup.
-- @unit users
-- @param to DateTime64(3) = now : the range end; its day (UTC) is the day measured
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param segment String = '' : user segment; '' means all
-- @column measured_day Date : the day measured
-- @column dau UInt64 : users active that day (uniq-class estimate)
-- @column wau UInt64 : users active in the 7 days ending that day
-- @column mau UInt64 : users active in the 30 days ending that day
-- @column stickiness Float64 : dau / mau
SELECT measured_day, dau, wau, mau, if(mau = 0, 0, round(dau / mau, 4)) AS stickiness
FROM
(
    -- no filter or one: that slice (uniqCombined states)
    WITH toDate({to:DateTime64(3)} - toIntervalMillisecond(1)) AS last_day
    SELECT
        last_day                                       AS measured_day,
        uniqCombinedMergeIf(users, day = last_day)     AS dau,
        uniqCombinedMergeIf(users, day > last_day - 7) AS wau,
        uniqCombinedMerge(users)                       AS mau
    FROM active_user_slices_per_day
    WHERE ({country:String} != '') + ({device_type:String} != '') + ({segment:String} != '') <= 1
      AND (dimension, value) = multiIf({country:String} != '', ('country', {country:String}),
                                       {device_type:String} != '', ('device_type', {device_type:String}),
                                       {segment:String} != '', ('segment', {segment:String}), ('all', 'all'))
      AND day > last_day - 30 AND day <= last_day
    HAVING ({country:String} != '') + ({device_type:String} != '') + ({segment:String} != '') <= 1
    UNION ALL
    -- several filters: the daily rollup (uniq states)
    WITH toDate({to:DateTime64(3)} - toIntervalMillisecond(1)) AS last_day
    SELECT
        last_day                                       AS measured_day,
        uniqMergeIf(users, day = last_day)             AS dau,
        uniqMergeIf(users, day > last_day - 7)         AS wau,
        uniqMerge(users)                               AS mau
    FROM active_users_per_day
    WHERE NOT (({country:String} != '') + ({device_type:String} != '') + ({segment:String} != '') <= 1)
      AND day > last_day - 30 AND day <= last_day
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
      AND ({segment:String} = '' OR segment = {segment:String})
    HAVING NOT (({country:String} != '') + ({device_type:String} != '') + ({segment:String} != '') <= 1)
)
