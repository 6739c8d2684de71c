-- The geo hierarchy: events and users per country; with a country, per region; with a region, per city.
-- The country list of an hour-aligned range with no event filter reads the hourly country slices;
-- otherwise the geo rollup, hourly when the range is hour-aligned, else per minute.
-- @unit events
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param event String = '' : event name; '' means all
-- @param country String = '' : drill into this country; '' lists countries
-- @param region String = '' : drill into this region (with its country); '' lists regions
-- @column place String : country, region or city, depending on the drill level
-- @column events UInt64 : events
-- @column users UInt64 : unique users (uniq-class estimate)
SELECT place, events, users
FROM
(
    -- the country list, hourly: the country slices (uniqCombined states)
    SELECT value AS place, sum(events) AS events, uniqCombinedMerge(users) AS users
    FROM engagement_slices_per_hour
    WHERE {event:String} = '' AND {country:String} = '' AND {region:String} = ''
      AND toUnixTimestamp({from:DateTime64(3)}) % 3600 = 0 AND toUnixTimestamp({to:DateTime64(3)}) % 3600 = 0
      AND dimension = 'country'
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    GROUP BY place
    UNION ALL
    -- otherwise: the geo rollup (uniq states)
    SELECT multiIf({country:String} = '', country, {region:String} = '', region, city) AS place,
           sum(events) AS events, uniqMerge(users) AS users
    FROM
    (
        SELECT bucket, event, country, region, city, events, users
        FROM engagement_geo_per_hour
        WHERE toUnixTimestamp({from:DateTime64(3)}) % 3600 = 0 AND toUnixTimestamp({to:DateTime64(3)}) % 3600 = 0
          AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
        UNION ALL
        SELECT bucket, event, country, region, city, events, users
        FROM engagement_geo_per_minute
        WHERE NOT (toUnixTimestamp({from:DateTime64(3)}) % 3600 = 0 AND toUnixTimestamp({to:DateTime64(3)}) % 3600 = 0)
          AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
    )
    WHERE NOT ({event:String} = '' AND {country:String} = '' AND {region:String} = ''
               AND toUnixTimestamp({from:DateTime64(3)}) % 3600 = 0 AND toUnixTimestamp({to:DateTime64(3)}) % 3600 = 0)
      AND ({event:String} = '' OR event = {event:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({region:String} = '' OR region = {region:String})
    GROUP BY place
)
ORDER BY events DESC, place
