-- Mentions of hashtags or keywords over time (the trending panel's sparkline and drill-down).
-- @unit mentions
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param interval_s UInt32 = 60 : bucket width in seconds (a multiple of 60)
-- @param kind String = hashtag in hashtag|keyword : hashtags of content, or words of searches
-- @param terms Array(String) = [] : terms to show; [] means all
-- @param region String = '' : region; '' means all
-- @param age_band String = '' : age band; '' means all
-- @column time DateTime : start of the bucket
-- @column term String : the hashtag or keyword
-- @column mentions UInt64 : mentions
-- @column users UInt64 : distinct users mentioning it (uniq)
SELECT
    toStartOfInterval(bucket, toIntervalSecond({interval_s:UInt32})) AS time,
    term,
    sum(mentions)    AS mentions,
    uniqMerge(users) AS users
FROM
(
    -- everywhere, everyone: the per-term rollup
    SELECT bucket, term, mentions, users
    FROM topic_mentions_by_term_per_minute
    WHERE {region:String} = '' AND {age_band:String} = ''
      AND kind = {kind:String}
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
      AND (empty({terms:Array(String)}) OR has({terms:Array(String)}, term))
    UNION ALL
    -- a region or an age band: the full rollup
    SELECT bucket, term, mentions, users
    FROM topic_mentions_per_minute
    WHERE NOT ({region:String} = '' AND {age_band:String} = '')
      AND kind = {kind:String}
      AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
      AND (empty({terms:Array(String)}) OR has({terms:Array(String)}, term))
      AND ({region:String} = '' OR region = {region:String})
      AND ({age_band:String} = '' OR age_band = {age_band:String})
)
GROUP BY time, term
ORDER BY time, term
