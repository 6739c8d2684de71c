-- Daily active users by a profile attribute looked up at query time in the users dictionary, so a
-- profile (identify) that arrives late relabels past days too.
-- @unit users
-- @api-only an analyst's question (DAU by a profile attribute, relabelled by late profiles): `pulse query` / `pulse export`
-- @param from DateTime64(3) = now-7d : first day (UTC) of the range
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param by String = segment in segment|age_band|country|language : the profile attribute
-- @column day Date : the day
-- @column key String : the attribute's value ('unknown' for users without a profile)
-- @column users UInt64 : users active that day (exact)
SELECT
    day,
    multiIf({by:String} = 'age_band', dictGetOrDefault('users_dict', 'age_band', tuple(user), 'unknown'),
            {by:String} = 'country', dictGetOrDefault('users_dict', 'country', tuple(user), 'unknown'),
            {by:String} = 'language', dictGetOrDefault('users_dict', 'language', tuple(user), 'unknown'),
            dictGetOrDefault('users_dict', 'segment', tuple(user), 'unknown')) AS key,
    uniqExact(user) AS users
FROM user_days
WHERE day >= toDate({from:DateTime64(3)}) AND day < {to:DateTime64(3)}
GROUP BY day, key
ORDER BY day, key
