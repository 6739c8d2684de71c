-- Events per second for the live "last minutes" panel (the rollup keeps 2 hours).
-- @unit events/s
-- @param from DateTime64(3) = now-5m : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param event String = '' : event name; '' means all
-- @param country String = '' : ISO country code; '' means all
-- @param device_type String = '' : desktop, mobile, tablet, ...; '' means all
-- @column time DateTime : start of the second
-- @column events UInt64 : events in that second
SELECT
    second      AS time,
    sum(events) AS events
FROM events_per_second
WHERE second >= {from:DateTime64(3)} AND second < {to:DateTime64(3)}
  AND ({event:String} = '' OR event = {event:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({device_type:String} = '' OR device_type = {device_type:String})
GROUP BY time
ORDER BY time
