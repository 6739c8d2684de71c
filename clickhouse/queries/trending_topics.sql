-- Trending hashtags or keywords: the current window against the trailing baseline windows.
-- Counts are spam-dampened (a term counts at most max_per_user mentions per distinct user in a
-- window); a term trends only when its rise is statistically significant (z = (current - mean) /
-- sqrt(max(variance, mean) + 1), Poisson-floored) and lifts at least min_lift over the mean.
-- velocity and acceleration are per window; score decays each minute's mentions with half_life_min.
-- Everywhere and for everyone, with the default window, baseline, dampening and half-life, min_mentions
-- >= 3 and `to` within 10 s of the live snapshot's end (the dashboard's panels), it reads
-- `trending_topics_live`, recomputed by the engine every 5 s with this same definition.
-- @unit mentions
-- @param to DateTime64(3) = now : end of the current window, exclusive
-- @param window_min UInt32 = 5 : window length in minutes (1, 5 or 15)
-- @param baseline_windows UInt32 = 12 : trailing windows that make the baseline
-- @param kind String = hashtag in hashtag|keyword : hashtags of content, or words of searches
-- @param region String = '' : region; '' means all
-- @param age_band String = '' : age band; '' means all
-- @param max_per_user Float64 = 3 : spam dampening: mentions counted per distinct user
-- @param min_mentions UInt32 = 20 : fewer (dampened) mentions in the window: not listed, never trending
-- @param z_threshold Float64 = 4 : significance needed to trend
-- @param min_lift Float64 = 2 : current / baseline mean needed to trend
-- @param half_life_min Float64 = 10 : half-life of the decayed score, in minutes
-- @param limit UInt32 = 20 : rows returned, most significant first
-- @column term String : the hashtag or keyword
-- @column current Float64 : dampened mentions in the current window
-- @column mentions UInt64 : raw mentions in the current window
-- @column users UInt64 : distinct users mentioning it in the current window
-- @column baseline_mean Float64 : mean dampened mentions per baseline window
-- @column baseline_stddev Float64 : their standard deviation
-- @column z Float64 : significance of the rise
-- @column velocity Float64 : current minus previous window
-- @column acceleration Float64 : change of velocity
-- @column score Float64 : exponentially decayed, dampened mentions
-- @column trending UInt8 : 1 when z >= z_threshold, lift >= min_lift and current >= min_mentions
WITH
    {window_min:UInt32} * 60 AS window_s,
    {baseline_windows:UInt32} AS baseline,
    -- the question is the dashboard's (default parameters, everywhere) and a snapshot is fresh
    ({region:String} = '' AND {age_band:String} = '' AND {window_min:UInt32} = 5 AND {baseline_windows:UInt32} = 12
        AND {max_per_user:Float64} = 3 AND {half_life_min:Float64} = 10 AND {min_mentions:UInt32} >= 3
        AND (SELECT count() FROM trending_topics_live
             WHERE abs(dateDiff('millisecond', window_to, {to:DateTime64(3)})) <= 10000) > 0) AS from_snapshot,
    -- only terms with min_mentions raw mentions in the current window can be listed (dampened <= raw),
    -- so the baseline is read for those alone: a few hundred terms instead of every term
    candidates AS
    (
        SELECT term
        FROM topic_mentions_by_term_per_minute
        WHERE {region:String} = '' AND {age_band:String} = ''
          AND kind = {kind:String}
          AND bucket >= {to:DateTime64(3)} - toIntervalSecond({window_min:UInt32} * 60) AND bucket < {to:DateTime64(3)}
          AND NOT from_snapshot
        GROUP BY term
        HAVING sum(mentions) >= {min_mentions:UInt32}
        UNION ALL
        SELECT term
        FROM topic_mentions_per_minute
        WHERE NOT ({region:String} = '' AND {age_band:String} = '')
          AND kind = {kind:String}
          AND bucket >= {to:DateTime64(3)} - toIntervalSecond({window_min:UInt32} * 60) AND bucket < {to:DateTime64(3)}
          AND ({region:String} = '' OR region = {region:String})
          AND ({age_band:String} = '' OR age_band = {age_band:String})
        GROUP BY term
        HAVING sum(mentions) >= {min_mentions:UInt32}
    )
SELECT term, current, mentions, users, baseline_mean, baseline_stddev, z, velocity, acceleration, score, trending
FROM
(
    -- the dashboard's question: the live snapshot
    SELECT
        term, current, mentions, users, baseline_mean, baseline_stddev, z, velocity, acceleration, score,
        z >= {z_threshold:Float64} AND current >= {min_lift:Float64} * baseline_mean
            AND current >= {min_mentions:UInt32}                 AS trending
    FROM trending_topics_live
    WHERE kind = {kind:String} AND current >= {min_mentions:UInt32}
      AND from_snapshot
    UNION ALL
    -- anything else: the rollups
    SELECT
        term,
        sumIf(dampened, w = 0)                                     AS current,
        sumIf(raw, w = 0)                                          AS mentions,
        sumIf(distinct_users, w = 0)                               AS users,
        sumIf(dampened, w >= 1) / baseline                         AS baseline_mean,
        sqrt(greatest(sumIf(dampened * dampened, w >= 1) / baseline - baseline_mean * baseline_mean, 0)) AS baseline_stddev,
        round((current - baseline_mean) / sqrt(greatest(baseline_stddev * baseline_stddev, baseline_mean) + 1), 3) AS z,
        current - sumIf(dampened, w = 1)                           AS velocity,
        velocity - (sumIf(dampened, w = 1) - sumIf(dampened, w = 2)) AS acceleration,
        round(sum(decayed), 3)                                     AS score,
        z >= {z_threshold:Float64} AND current >= {min_lift:Float64} * baseline_mean
            AND current >= {min_mentions:UInt32}                   AS trending
    FROM
    (
        SELECT
            term,
            intDiv(toUInt32(dateDiff('second', bucket, {to:DateTime64(3)})) - 1, window_s) AS w,
            sum(mentions)                                           AS raw,
            uniqMerge(users)                                        AS distinct_users,
            least(toFloat64(raw), distinct_users * {max_per_user:Float64}) AS dampened,
            sum(mentions * exp2(-dateDiff('second', bucket, {to:DateTime64(3)}) / 60 / {half_life_min:Float64}))
                * dampened / raw                                    AS decayed
        FROM
        (
            -- everywhere, everyone: the per-term rollup
            SELECT term, bucket, mentions, users
            FROM topic_mentions_by_term_per_minute
            WHERE {region:String} = '' AND {age_band:String} = ''
              AND kind = {kind:String}
              AND bucket >= {to:DateTime64(3)} - toIntervalSecond(window_s * (baseline + 1))
              AND bucket < {to:DateTime64(3)}
              AND term IN candidates
              AND NOT from_snapshot
            UNION ALL
            -- a region or an age band: the full rollup
            SELECT term, bucket, mentions, users
            FROM topic_mentions_per_minute
            WHERE NOT ({region:String} = '' AND {age_band:String} = '')
              AND kind = {kind:String}
              AND bucket >= {to:DateTime64(3)} - toIntervalSecond(window_s * (baseline + 1))
              AND bucket < {to:DateTime64(3)}
              AND ({region:String} = '' OR region = {region:String})
              AND ({age_band:String} = '' OR age_band = {age_band:String})
              AND term IN candidates
        )
        GROUP BY term, w
    )
    GROUP BY term
    HAVING current >= {min_mentions:UInt32}
       AND NOT from_snapshot
)
ORDER BY trending DESC, z DESC, term
LIMIT {limit:UInt32}
