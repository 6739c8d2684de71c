-- Mentions of hashtags or keywords over time (the trending panel's sparkline and drill-down).
-- @unit mentions
-- @param from DateTime64(3) = now-1h : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param interval_s UInt32 = 60 : bucket width in seconds (a multiple of 60)
-- @param kind String = hashtag in hashtag|keyword : hashtags of content, or words of searches
-- @param terms Array(String) = [] : terms to show; [] means all
-- @param top UInt32 = 0 : only the top N terms of the range by mentions (after the terms filter); 0 means no limit
-- @param region String = '' : region; '' means all
-- @param age_band String = '' : age band; '' means all
-- @column time DateTime : start of the bucket
-- @column term String : the hashtag or keyword
-- @column mentions UInt64 : mentions
-- @column users UInt64 : distinct users mentioning it (uniq)
WITH top_terms AS
(
    -- the range's most mentioned terms, when `top` asks for them (a sparkline panel shows a few)
    SELECT term
    FROM
    (
        SELECT term, mentions FROM topic_mentions_by_term_per_minute
        WHERE {top:UInt32} > 0 AND {region:String} = '' AND {age_band:String} = ''
          AND kind = {kind:String} AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
          AND (empty({terms:Array(String)}) OR has({terms:Array(String)}, term))
        UNION ALL
        SELECT term, mentions FROM topic_mentions_per_minute
        WHERE {top:UInt32} > 0 AND NOT ({region:String} = '' AND {age_band:String} = '')
          AND kind = {kind:String} AND bucket >= {from:DateTime64(3)} AND bucket < {to:DateTime64(3)}
          AND (empty({terms:Array(String)}) OR has({terms:Array(String)}, term))
          AND ({region:String} = '' OR region = {region:String})
          AND ({age_band:String} = '' OR age_band = {age_band:String})
    )
    GROUP BY term
    ORDER BY sum(mentions) DESC, term
    LIMIT {top:UInt32}
)
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
      AND ({top:UInt32} = 0 OR term IN top_terms)
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
      AND ({top:UInt32} = 0 OR term IN top_terms)
)
GROUP BY time, term
ORDER BY time, term
