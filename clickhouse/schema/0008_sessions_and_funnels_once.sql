-- Sessionisation and the conversion funnel, each written once: parameterized views that the named
-- queries (`sessions`, `funnel`) and the live snapshots of 0005 all select from.
--
-- Why: 0005's refreshable views and the named queries each spelled out the same session split and
-- the same windowFunnel; a change to one (the gap, the key users are grouped by, a journey's steps)
-- would silently make "the dashboard's last hour" disagree with every other range. A parameterized
-- view (`SELECT ... FROM sessions_in_range(from = ..., to = ..., ...)`) is the engine's own way to
-- name a query with arguments: the SQL stays SQL, and the engine inlines it into each caller, so
-- filters on the range still prune parts and a caller's constant-false WHERE still reads nothing.
-- The snapshots keep their names, columns and refresh schedule; only their query changes (MODIFY
-- QUERY), and each refresh recomputes them from raw events, so nothing needs a backfill.

-- A journey's steps, by name: what the funnel counts and how the named query labels the steps.
CREATE FUNCTION IF NOT EXISTS funnel_steps AS (journey) ->
    if(journey = 'ads', ['ad_impression', 'ad_click', 'conversion'], ['view', 'like', 'share']);

-- Sessions: each user's events in [from, to) split where they pause longer than gap_s, totalled.
-- A session crossing the range's edge is cut there. Users are grouped by `user_key` (0003), the
-- hashed user (or anonymous) id: cheaper to group than the strings.
CREATE VIEW IF NOT EXISTS sessions_in_range AS
SELECT
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
        WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
          AND ({country:String} = '' OR country = {country:String})
          AND ({device_type:String} = '' OR device_type = {device_type:String})
        GROUP BY user_key
    )
    ARRAY JOIN arraySplit((t, i) -> i > 1 AND t - times[i - 1] > {gap_s:UInt32} * 1000, times, arrayEnumerate(times)) AS session
);

-- Funnel: users of [from, to) reaching each step of the journey within window_s of its first step.
CREATE VIEW IF NOT EXISTS funnel_in_range AS
WITH funnel_steps({journey:String}) AS steps
SELECT step, count() AS users
FROM
(
    SELECT windowFunnel({window_s:UInt32} * 1000)(
               toUInt64(toUnixTimestamp64Milli(event_time)), event = steps[1], event = steps[2], event = steps[3]) AS level
    FROM events
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
      AND has(steps, event)
      AND ({country:String} = '' OR country = {country:String})
      AND ({device_type:String} = '' OR device_type = {device_type:String})
    GROUP BY user_key
)
ARRAY JOIN range(1, level + 1) AS step
GROUP BY step;

-- The live snapshots (0005): the unfiltered last hour with the default gap and window, now read
-- through the views above.
ALTER TABLE sessions_last_hour MODIFY QUERY
WITH now64(3) AS window_end
SELECT
    window_end - toIntervalHour(1) AS window_from,
    window_end                     AS window_to,
    sessions, bounces, total_duration_ms, total_depth
FROM sessions_in_range(from = window_end - toIntervalHour(1), to = window_end, gap_s = 1800,
                       country = '', device_type = '')
SETTINGS max_threads = 1;

ALTER TABLE funnels_last_hour MODIFY QUERY
WITH now64(3) AS window_end
SELECT
    window_end - toIntervalHour(1) AS window_from,
    window_end                     AS window_to,
    journey, step, users
FROM
(
    SELECT 'engagement' AS journey, step, users
    FROM funnel_in_range(from = window_end - toIntervalHour(1), to = window_end, journey = 'engagement',
                         window_s = 3600, country = '', device_type = '')
    UNION ALL
    SELECT 'ads' AS journey, step, users
    FROM funnel_in_range(from = window_end - toIntervalHour(1), to = window_end, journey = 'ads',
                         window_s = 3600, country = '', device_type = '')
)
SETTINGS max_threads = 1;
