-- Daily active users over the range (the DAU line).
-- @unit users
-- @param from DateTime64(3) = now-30d : first day (UTC) of the range
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param segment String = '' : user segment; '' means all
-- @column day Date : the day
-- @column dau UInt64 : users active that day (uniq)
SELECT day, uniqMerge(users) AS dau
FROM active_users_per_day
WHERE day >= toDate({from:DateTime64(3)}) AND day < {to:DateTime64(3)}
  AND ({country:String} = '' OR country = {country:String})
  AND ({device_type:String} = '' OR device_type = {device_type:String})
  AND ({segment:String} = '' OR segment = {segment:String})
GROUP BY day
ORDER BY day
