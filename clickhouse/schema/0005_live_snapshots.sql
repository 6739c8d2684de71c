-- Live snapshots: the last hour's sessions and funnels, recomputed every 5 seconds by the engine.
--
-- Why: sessions and funnels need each user's ordered events, so they cannot be summed from rollups;
-- over the last hour of a 100M-events/day stream that is ~4M rows grouped by ~300K users, ~200 ms
-- a panel -- paid again by every viewer at every dashboard refresh. A refreshable materialized view
-- computes the unfiltered last hour once every 5 seconds (~0.5 s of one core per refresh at that
-- scale) and every viewer reads a handful of rows. The named queries `sessions` and `funnel` read a
-- snapshot only when it answers exactly their question (no filter, default gap/window, a 1-hour
-- range ending within 10 s of the snapshot's end); anything else reads raw events as before.
-- Memory tables: a snapshot is recomputed from raw events, so nothing is lost with a restart, and
-- each refresh replaces the table atomically. Each refresh runs on one thread, at its own offset in
-- the 5-second period (sessions at 0 s, funnels at 2 s, trending (0006) at 4 s), so refreshes never
-- take both cores from the dashboards' queries at once.

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_last_hour
REFRESH EVERY 5 SECOND OFFSET 0 SECOND
ENGINE = Memory
AS
WITH now64(3) AS window_end
SELECT
    window_end - toIntervalHour(1)                       AS window_from,
    window_end                                           AS window_to,
    count()                                              AS sessions,
    countIf(depth = 1)                                   AS bounces,
    toInt64(sum(duration_ms))                            AS total_duration_ms,
    sum(depth)                                           AS total_depth
FROM
(
    SELECT toUInt64(length(session)) AS depth, session[-1] - session[1] AS duration_ms
    FROM
    (
        SELECT arraySort(groupArray(toUnixTimestamp64Milli(event_time))) AS times
        FROM events
        WHERE event_time >= window_end - toIntervalHour(1) AND event_time < window_end
        GROUP BY user_key
    )
    ARRAY JOIN arraySplit((t, i) -> i > 1 AND t - times[i - 1] > 1800000, times, arrayEnumerate(times)) AS session
)
SETTINGS max_threads = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS funnels_last_hour
REFRESH EVERY 5 SECOND OFFSET 2 SECOND
ENGINE = Memory
AS
WITH now64(3) AS window_end
SELECT
    window_end - toIntervalHour(1)                       AS window_from,
    window_end                                           AS window_to,
    journey,
    step,
    count()                                              AS users
FROM
(
    SELECT
        'engagement' AS journey,
        windowFunnel(3600000)(toUInt64(toUnixTimestamp64Milli(event_time)),
                              event = 'view', event = 'like', event = 'share') AS level
    FROM events
    WHERE event_time >= window_end - toIntervalHour(1) AND event_time < window_end
      AND event IN ('view', 'like', 'share')
    GROUP BY user_key
    UNION ALL
    SELECT
        'ads' AS journey,
        windowFunnel(3600000)(toUInt64(toUnixTimestamp64Milli(event_time)),
                              event = 'ad_impression', event = 'ad_click', event = 'conversion') AS level
    FROM events
    WHERE event_time >= window_end - toIntervalHour(1) AND event_time < window_end
      AND event IN ('ad_impression', 'ad_click', 'conversion')
    GROUP BY user_key
)
ARRAY JOIN range(1, level + 1) AS step
GROUP BY journey, step
SETTINGS max_threads = 1;
