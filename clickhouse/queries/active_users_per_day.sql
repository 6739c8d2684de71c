-- Daily active users over the range (the DAU line).
-- With at most one filter it reads the daily slices (one state a day); with more, the daily rollup.
-- @unit users
-- @api-only the DAU series for exports and the API; the dashboard shows DAU/WAU/MAU through `active_users`
-- @param from DateTime64(3) = now-30d : first day (UTC) of the range
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param segment String = '' : user segment; '' means all
-- @column day Date : the day
-- @column dau UInt64 : users active that day (uniq-class estimate)
SELECT day, dau
FROM
(
    -- no filter or one: that slice (uniqCombined states)
    SELECT day, uniqCombinedMerge(users) AS dau
    FROM active_user_slices_per_day
    WHERE ({country:String} != '') + ({device_type:String} != '') + ({segment:String} != '') <= 1
      AND (dimension, value) = multiIf({country:String} != '', ('country', {country:String}),
                                       {device_type:String} != '', ('device_type', {device_type:String}),
                                       {segment:String} != '', ('segment', {segment:String}), ('all', 'all'))
      AND day >= toDate({from:DateTime64(3)}) AND day < {to:DateTime64(3)}
    GROUP BY day
    UNION ALL
    -- several filters: the daily rollup (uniq states)
    SELECT day, uniqMerge(users) AS dau
    FROM active_users_per_day
    WHERE NOT (({country:String} != '') + ({device_type:String} != '') + ({segment:String} != '') <= 1)
      AND day >= toDate({from:DateTime64(3)}) AND day < {to:DateTime64(3)}
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
      AND ({segment:String} = '' OR segment = {segment:String})
    GROUP BY day
)
ORDER BY day
