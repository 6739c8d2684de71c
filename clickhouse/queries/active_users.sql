-- DAU, WAU and MAU for the day that ends the range, and stickiness (DAU / MAU).
-- @unit users
-- @param to DateTime64(3) = now : the range end; its day (UTC) is the day measured
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param segment String = '' : user segment; '' means all
-- @column measured_day Date : the day measured
-- @column dau UInt64 : users active that day (uniq)
-- @column wau UInt64 : users active in the 7 days ending that day
-- @column mau UInt64 : users active in the 30 days ending that day
-- @column stickiness Float64 : dau / mau
WITH toDate({to:DateTime64(3)} - toIntervalMillisecond(1)) AS last_day
SELECT
    last_day                                          AS measured_day,
    uniqMergeIf(users, day = last_day)                AS dau,
    uniqMergeIf(users, day > last_day - 7)            AS wau,
    uniqMerge(users)                                  AS mau,
    if(mau = 0, 0, round(dau / mau, 4))               AS stickiness
FROM active_users_per_day
WHERE day > last_day - 30 AND day <= last_day
  AND ({country:String} = '' OR country = {country:String})
  AND ({device_type:String} = '' OR device_type = {device_type:String})
  AND ({segment:String} = '' OR segment = {segment:String})
