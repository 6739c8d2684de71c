-- Anomaly of a business metric: its value in the range against the same window (same time of
-- day) on each of the previous baseline_days days. z = (current - mean) / sd, where sd is the
-- baseline's sample deviation floored by sampling noise (Poisson for counts, binomial for CTR),
-- so a handful of events cannot look significant. Alert rules fire on |z| > 4.
-- @unit z
-- @param from DateTime64(3) = now-15m : start of the current window, inclusive
-- @param to DateTime64(3) = now : end of the current window, exclusive
-- @param metric String = engagement in engagement|ctr|conversions : the metric
-- @param baseline_days UInt32 = 7 : days of trailing baseline
-- @column metric String : the metric
-- @column current Float64 : its value in the current window
-- @column baseline_mean Float64 : mean over the baseline windows that have data
-- @column baseline_sd Float64 : the deviation used (sample sd, floored by sampling noise)
-- @column z Float64 : (current - baseline_mean) / baseline_sd
WITH
    toUnixTimestamp({from:DateTime64(3)}) AS lo,
    toUnixTimestamp({to:DateTime64(3)}) AS hi,
    {baseline_days:UInt32} AS days
SELECT
    {metric:String}                                                      AS metric,
    toFloat64(anyIf(value, d = 0))                                       AS current,
    toFloat64(avgIf(value, d > 0))                                       AS baseline_mean,
    greatest(ifNotFinite(stddevSampIf(value, d > 0), 0),
             if({metric:String} = 'ctr',
                sqrt(baseline_mean * (1 - baseline_mean) / greatest(anyIf(impressions, d = 0), 1)),
                sqrt(greatest(baseline_mean, 1))))                       AS baseline_sd,
    round((current - baseline_mean) / baseline_sd, 3)                   AS z
FROM
(
    SELECT
        d,
        sumIf(n, k = 'impressions')                                      AS impressions,
        multiIf({metric:String} = 'ctr', if(impressions = 0, 0, sumIf(n, k = 'clicks') / impressions),
                {metric:String} = 'conversions', toFloat64(sumIf(n, k = 'conversions')),
                toFloat64(sumIf(n, k = 'engagement')))                   AS value
    FROM
    (
        SELECT intDiv(hi - 1 - toUnixTimestamp(bucket), 86400) AS d, 'engagement' AS k, sum(events) AS n
        FROM engagement_per_minute
        WHERE {metric:String} = 'engagement'
          AND bucket >= toDateTime(lo - (days + 1) * 86400) AND bucket < toDateTime(hi)
          AND event IN ('view', 'like', 'comment', 'share', 'save', 'follow', 'profile_visit', 'post_created')
          AND toUnixTimestamp(bucket) >= lo - intDiv(hi - 1 - toUnixTimestamp(bucket), 86400) * 86400
        GROUP BY d
        UNION ALL
        SELECT intDiv(hi - 1 - toUnixTimestamp(bucket), 86400) AS d, k, n
        FROM
        (
            SELECT bucket, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions
            FROM ad_performance_per_minute
            WHERE {metric:String} != 'engagement'
              AND bucket >= toDateTime(lo - (days + 1) * 86400) AND bucket < toDateTime(hi)
              AND toUnixTimestamp(bucket) >= lo - intDiv(hi - 1 - toUnixTimestamp(bucket), 86400) * 86400
            GROUP BY bucket
        )
        ARRAY JOIN ['impressions', 'clicks', 'conversions'] AS k, [impressions, clicks, conversions] AS n
    )
    WHERE d <= days
    GROUP BY d
)
