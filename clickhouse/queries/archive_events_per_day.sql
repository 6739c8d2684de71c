-- Events per day and event type, read in place from the S3 Parquet archive: history older than the
-- warehouse's 30-day TTL, without a replay. Days are event-time days (UTC), as in the warehouse.
-- Only the archive's day folders that can hold them are listed and read: `dt=` (ingest day) from the
-- day before `from` (a device clock slightly ahead) to `late_days` after `to` (late mobile events).
-- An event counts once however often a client retried it (the archive keeps every copy).
-- Through the `pulse_archive` named collection: no endpoint or key in the SQL (docs/archive.md).
-- @unit events
-- @param from DateTime64(3) = now-30d : first day (UTC) of the range
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param topic_prefix String = pulse : Kafka topic prefix whose warehouse topics are read
-- @param late_days UInt16 = 1 : ingest days read after the range's last day, for late events
-- @column day Date : the event-time day (UTC)
-- @column event String : event type
-- @column events UInt64 : events (distinct messageIds)
SELECT toDate(event_time) AS day, event, uniqExact(message_id) AS events
FROM s3(
    pulse_archive,
    filename = {topic_prefix:String} || '.{interactions,content,ads,identities}/dt={'
        || arrayStringConcat(arrayMap(i -> toString(toDate({from:DateTime64(3)}) - 1 + i),
               range(toUInt32(greatest(0, least(3700,
                   dateDiff('day', toDate({from:DateTime64(3)}), toDate({to:DateTime64(3)})) + 2 + {late_days:UInt16}))))),
           ',')
        || '}/hour=*/*.parquet',
    structure = 'event String, message_id String, event_time DateTime64(3, \'UTC\'), raw_message Nullable(String)'
)
WHERE (
    SELECT throwIf({from:DateTime64(3)} >= {to:DateTime64(3)}, 'archive range: from must be before to')
         + throwIf(dateDiff('day', {from:DateTime64(3)}, {to:DateTime64(3)}) > 3650, 'archive range: at most 3650 days')
         + throwIf({topic_prefix:String} = '' OR match({topic_prefix:String}, '[^A-Za-z0-9._-]'),
                   'topic_prefix: only letters, digits, dot, dash and underscore (no glob or path characters)')
) = 0
  AND raw_message IS NULL
  AND toDate(event_time) >= toDate({from:DateTime64(3)}) AND event_time < {to:DateTime64(3)}
GROUP BY day, event
ORDER BY day, event
