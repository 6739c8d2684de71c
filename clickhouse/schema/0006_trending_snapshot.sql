-- Live snapshot of trending topics: the dashboard's default trending question, recomputed by the
-- engine every 5 seconds, on one thread, 4 s into the period (see 0005 for the pattern).
--
-- Why: dampening needs each term's distinct users per window, i.e. merging a uniq state per term and
-- minute over the 13 windows (65 minutes): ~260K small states for the ~4,000 hashtags with a few
-- mentions in the current window at 100M events/day, ~200-400 ms a panel, paid by every viewer. The
-- snapshot holds every term with at least 3 mentions in the current 5-minute window, everywhere and
-- for everyone, with the default baseline (12 windows), dampening (3 per user) and half-life (10 min),
-- for both kinds; `trending_topics` reads it for exactly that question (any min_mentions >= 3,
-- z_threshold, min_lift and limit) and computes the trending flag itself, else reads the rollups.

CREATE MATERIALIZED VIEW IF NOT EXISTS trending_topics_live
REFRESH EVERY 5 SECOND OFFSET 4 SECOND
ENGINE = Memory
AS
WITH now64(3) AS window_end
SELECT
    window_end                                                   AS window_to,
    kind,
    term,
    sumIf(dampened, w = 0)                                       AS current,
    sumIf(raw, w = 0)                                            AS mentions,
    sumIf(distinct_users, w = 0)                                 AS users,
    sumIf(dampened, w >= 1) / 12                                 AS baseline_mean,
    sqrt(greatest(sumIf(dampened * dampened, w >= 1) / 12 - baseline_mean * baseline_mean, 0)) AS baseline_stddev,
    round((current - baseline_mean) / sqrt(greatest(baseline_stddev * baseline_stddev, baseline_mean) + 1), 3) AS z,
    current - sumIf(dampened, w = 1)                             AS velocity,
    velocity - (sumIf(dampened, w = 1) - sumIf(dampened, w = 2)) AS acceleration,
    round(sum(decayed), 3)                                       AS score
FROM
(
    SELECT
        kind,
        term,
        intDiv(toUInt32(dateDiff('second', bucket, window_end)) - 1, 300) AS w,
        sum(mentions)                                            AS raw,
        uniqMerge(users)                                         AS distinct_users,
        least(toFloat64(raw), distinct_users * 3.0)              AS dampened,
        sum(mentions * exp2(-dateDiff('second', bucket, window_end) / 60 / 10.0)) * dampened / raw AS decayed
    FROM topic_mentions_by_term_per_minute
    WHERE bucket >= window_end - toIntervalSecond(300 * 13) AND bucket < window_end
      AND (kind, term) IN
      (
          SELECT kind, term
          FROM topic_mentions_by_term_per_minute
          WHERE bucket >= window_end - toIntervalSecond(300) AND bucket < window_end
          GROUP BY kind, term
          HAVING sum(mentions) >= 3
      )
    GROUP BY kind, term, w
)
GROUP BY kind, term
HAVING current >= 3
SETTINGS max_threads = 1;
