-- Retention: users grouped by the day they were first active (cohort), and how many of them are
-- active again N days later.
-- @unit users
-- @api-only cohort retention for exports and analysts: `pulse query` / `pulse export`
-- @param from DateTime64(3) = now-14d : first cohort day (UTC)
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @column cohort_day Date : the day the cohort's users were first seen
-- @column day_offset UInt32 : days since the cohort day
-- @column users UInt64 : cohort users active on that day
-- @column retention Float64 : users / cohort size
WITH cohorts AS
(
    SELECT user, min(day) AS cohort_day
    FROM user_days
    WHERE day < {to:DateTime64(3)}
    GROUP BY user
    HAVING cohort_day >= toDate({from:DateTime64(3)})
)
SELECT
    cohort_day,
    toUInt32(dateDiff('day', cohort_day, day)) AS day_offset,
    -- a user-day is one row of user_days only after merges (each insert adds its own): count users
    uniqExact(user)                            AS users,
    round(users / max(users) OVER (PARTITION BY cohort_day), 4) AS retention
FROM user_days
INNER JOIN cohorts USING (user)
WHERE day >= toDate({from:DateTime64(3)}) AND day < {to:DateTime64(3)}
GROUP BY cohort_day, day_offset
ORDER BY cohort_day, day_offset
