-- Ad KPIs per campaign, creative, segment, device or country: impressions, clicks, conversions,
-- spend and revenue (micros, exact) with CTR, CVR, CPC, CPA and ROAS. Reads the hourly rollup when
-- the range is hour-aligned, else the minute rollup.
-- @unit micros
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param by String = campaign in campaign|creative|segment|device_type|country : the grouping
-- @param campaign_id String = '' : campaign; '' means all
-- @param segment String = '' : user segment; '' means all
-- @param device_type String = '' : device type; '' means all
-- @param country String = '' : ISO country code; '' means all
-- @column key String : the grouping's value
-- @column impressions UInt64 : ad impressions
-- @column clicks UInt64 : ad clicks
-- @column conversions UInt64 : conversions
-- @column spend_micros Int64 : spend, micro-units of the currency
-- @column revenue_micros Int64 : revenue, micro-units
-- @column ctr Nullable(Float64) : clicks / impressions
-- @column cvr Nullable(Float64) : conversions / clicks
-- @column cpc Nullable(Float64) : spend per click, currency units
-- @column cpa Nullable(Float64) : spend per conversion, currency units
-- @column roas Nullable(Float64) : revenue / spend
SELECT
    multiIf({by:String} = 'creative', creative_id, {by:String} = 'segment', segment,
            {by:String} = 'device_type', device_type, {by:String} = 'country', country, campaign_id) AS key,
    sum(impressions)    AS impressions,
    sum(clicks)         AS clicks,
    sum(conversions)    AS conversions,
    sum(spend_micros)   AS spend_micros,
    sum(revenue_micros) AS revenue_micros,
    if(impressions = 0, NULL, round(clicks / impressions, 6))          AS ctr,
    if(clicks = 0, NULL, round(conversions / clicks, 6))               AS cvr,
    if(clicks = 0, NULL, round(spend_micros / clicks / 1e6, 6))        AS cpc,
    if(conversions = 0, NULL, round(spend_micros / conversions / 1e6, 6)) AS cpa,
    if(spend_micros = 0, NULL, round(revenue_micros / spend_micros, 6)) AS roas
FROM
(
    SELECT * FROM ad_performance_per_hour
    WHERE toUnixTimestamp({from:DateTime64(3)}) % 3600 = 0 AND toUnixTimestamp({to:DateTime64(3)}) % 3600 = 0
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    UNION ALL
    SELECT * FROM ad_performance_per_minute
    WHERE NOT (toUnixTimestamp({from:DateTime64(3)}) % 3600 = 0 AND toUnixTimestamp({to:DateTime64(3)}) % 3600 = 0)
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
)
WHERE ({campaign_id:String} = '' OR campaign_id = {campaign_id:String})
  AND ({segment:String} = '' OR segment = {segment:String})
  AND ({device_type:String} = '' OR device_type = {device_type:String})
  AND ({country:String} = '' OR country = {country:String})
GROUP BY key
ORDER BY spend_micros DESC, key
