-- Budget pacing: each campaign's spend since the start of the day (UTC) against a linear plan of
-- its daily budget (campaigns dictionary) at the moment `to`. Today's whole hours come from the
-- hourly rollup, the hour in progress from the minute rollup: the same sums from ~1/20 of the rows.
-- @unit micros
-- @param to DateTime64(3) = now : the moment measured
-- @param tolerance Float64 = 0.1 : |pacing - 1| within this is "on track"
-- @column campaign_id String : the campaign
-- @column name String : its name
-- @column daily_budget_micros Int64 : its daily budget
-- @column spend_micros Int64 : spend so far today
-- @column planned_micros Int64 : daily budget times the elapsed share of the day
-- @column pacing Nullable(Float64) : spend / planned
-- @column status String : over, under, on track, or no budget
WITH
    toStartOfDay({to:DateTime64(3)}) AS day_start,
    dateDiff('millisecond', day_start, {to:DateTime64(3)}) / 86400000 AS elapsed
SELECT
    campaign_id,
    dictGetOrDefault('campaigns_dict', 'name', tuple(campaign_id), '')                          AS name,
    dictGetOrDefault('campaigns_dict', 'daily_budget_micros', tuple(campaign_id), toInt64(0))   AS daily_budget_micros,
    sum(spend_micros)                                                                           AS spend_micros,
    toInt64(round(daily_budget_micros * elapsed))                                               AS planned_micros,
    if(planned_micros = 0, NULL, round(spend_micros / planned_micros, 4))                       AS pacing,
    multiIf(daily_budget_micros = 0, 'no budget',
            pacing > 1 + {tolerance:Float64}, 'over',
            pacing < 1 - {tolerance:Float64}, 'under', 'on track')                              AS status
FROM
(
    SELECT campaign_id, spend_micros
    FROM ad_performance_per_hour
    WHERE bucket >= day_start AND bucket < toStartOfHour({to:DateTime64(3)})
    UNION ALL
    SELECT campaign_id, spend_micros
    FROM ad_performance_per_minute
    WHERE bucket >= toStartOfHour({to:DateTime64(3)}) AND bucket < {to:DateTime64(3)}
)
GROUP BY campaign_id
ORDER BY campaign_id
