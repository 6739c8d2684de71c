-- Daily active users, read in place from the S3 Parquet archive: history older than the warehouse's
-- 30-day TTL, without a replay. Exact (uniqExact) over the same user key as the warehouse's DAU
-- (user id, else anonymous id), by event-time day (UTC). Folders read as in archive_events_per_day:
-- `dt=` from the day before `from` to `late_days` after `to`, nothing else is listed or read.
-- Through the `pulse_archive` named collection: no endpoint or key in the SQL (docs/archive.md).
-- @unit users
-- @param from DateTime64(3) = now-30d : first day (UTC) of the range
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param topic_prefix String = pulse : Kafka topic prefix whose warehouse topics are read
-- @param late_days UInt16 = 1 : ingest days read after the range's last day, for late events
-- @column day Date : the event-time day (UTC)
-- @column dau UInt64 : distinct users active that day (exact)
SELECT toDate(event_time) AS day, uniqExact(if(user_id != '', user_id, anonymous_id)) AS dau
FROM s3(
    pulse_archive,
    filename = {topic_prefix:String} || '.{interactions,content,ads,identities}/dt={'
        || arrayStringConcat(arrayMap(i -> toString(toDate({from:DateTime64(3)}) - 1 + i),
               range(toUInt32(greatest(0, least(3700,
                   dateDiff('day', toDate({from:DateTime64(3)}), toDate({to:DateTime64(3)})) + 2 + {late_days:UInt16}))))),
           ',')
        || '}/hour=*/*.parquet',
    structure = 'user_id String, anonymous_id String, event_time DateTime64(3, \'UTC\'), raw_message Nullable(String)'
)
WHERE (
    SELECT throwIf({from:DateTime64(3)} >= {to:DateTime64(3)}, 'archive range: from must be before to')
         + throwIf(dateDiff('day', {from:DateTime64(3)}, {to:DateTime64(3)}) > 3650, 'archive range: at most 3650 days')
         + throwIf({topic_prefix:String} = '' OR match({topic_prefix:String}, '[^A-Za-z0-9._-]'),
                   'topic_prefix: only letters, digits, dot, dash and underscore (no glob or path characters)')
) = 0
  AND raw_message IS NULL
  AND toDate(event_time) >= toDate({from:DateTime64(3)}) AND event_time < {to:DateTime64(3)}
GROUP BY day
ORDER BY day
