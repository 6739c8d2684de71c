-- Click -> conversion attribution: each conversion in the range is credited to the same user's
-- latest click on the same campaign at most attribution_window_s before it (last-click).
-- @unit conversions
-- @api-only click-to-conversion analysis over raw events, too heavy for a refreshing panel: `pulse query` / `pulse export`
-- @param from DateTime64(3) = now-1h : start of the range (conversion time), inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param attribution_window_s UInt32 = 86400 : the longest click -> conversion delay credited
-- @param campaign_id String = '' : campaign; '' means all
-- @column campaign_id String : the campaign
-- @column conversions UInt64 : conversions in the range
-- @column attributed UInt64 : conversions with a click inside the window
-- @column attributed_revenue_micros Int64 : revenue of the attributed conversions
-- @column median_delay_s Float64 : median click -> conversion delay of attributed ones
SELECT
    campaign_id,
    count()                                              AS conversions,
    countIf(credited)                                    AS attributed,
    sumIf(revenue_micros, credited)                      AS attributed_revenue_micros,
    round(medianIf(delay_ms / 1000, credited), 3)        AS median_delay_s
FROM
(
SELECT
    conversion.campaign_id                                AS campaign_id,
    conversion.revenue_micros                             AS revenue_micros,
    conversion.t - click.t                                AS delay_ms,
    click.matched = 1 AND delay_ms <= {attribution_window_s:UInt32} * 1000 AS credited
FROM
(
    SELECT user_key AS user, campaign_id,
           toUnixTimestamp64Milli(event_time) AS t, revenue_micros
    FROM events
    WHERE event = 'conversion'
      AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
      AND ({campaign_id:String} = '' OR campaign_id = {campaign_id:String})
) AS conversion
ASOF LEFT JOIN
(
    SELECT user_key AS user, campaign_id,
           toUnixTimestamp64Milli(event_time) AS t, toUInt8(1) AS matched
    FROM events
    WHERE event = 'ad_click'
      AND event_time >= {from:DateTime64(3)} - toIntervalSecond({attribution_window_s:UInt32})
      AND event_time < {to:DateTime64(3)}
      AND ({campaign_id:String} = '' OR campaign_id = {campaign_id:String})
) AS click
ON conversion.user = click.user AND conversion.campaign_id = click.campaign_id AND conversion.t >= click.t
)
GROUP BY campaign_id
ORDER BY campaign_id
SETTINGS join_use_nulls = 0
