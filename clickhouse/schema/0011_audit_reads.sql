-- audit_reads: who read which data, kept a year -- every read of a table and every refused query,
-- attributed to a person, fed from system.query_log (docs/access.md, Audit).
--
-- Who: Grafana's ClickHouse plugin tags each query `grafana_user:<login>` (and `grafana_dashboard:`,
-- `grafana_panel:`, `grafana_rule:`) in its client info, which a server logs as `http_user_agent`
-- (HTTP) or `client_name` (native). The embedded bridge logs the same text as `log_comment`
-- (pulse.chdb_server.query_log). Untagged queries are attributed to the ClickHouse user.
-- Sensitive: the access definition's column classes, held in audit_sensitive_columns: each column
-- of the warehouse its patterns match, written by `pulse access classify` (and `apply`).
-- Denied: exception 497 ACCESS_DENIED. A refused query is logged before analysis, without tables or
-- columns: the tables come from the refusal message and the columns from the names in the query
-- that are columns of those tables.
-- Only initial SELECTs that read a table outside `system`, and refused queries of any kind; the
-- feed's own queries (those reading audit_query_log) are left out. Writes are not reads: the
-- loader's inserts stay in the query log only. Own retention: the TTL below (one year; change it with
-- `ALTER TABLE audit_reads MODIFY TTL ...`, which `pulse audit retention` does and records).

CREATE TABLE IF NOT EXISTS audit_sensitive_columns
(
    column String COMMENT 'database.table.column, as query_log names it',
    class  LowCardinality(String) COMMENT 'a sensitive class of the access definition (money, personal, ...)'
)
ENGINE = MergeTree
ORDER BY column;

-- The query log may not exist yet: a server (and chDB) creates system.query_log at its first flush.
-- A Merge table over it reads nothing until then, so the feed below can be created and run anytime.
CREATE TABLE IF NOT EXISTS audit_query_log
(
    type                    Enum8('QueryStart' = 1, 'QueryFinish' = 2, 'ExceptionBeforeStart' = 3, 'ExceptionWhileProcessing' = 4),
    event_time              DateTime,
    event_time_microseconds DateTime64(6),
    query_id                String,
    query_kind              LowCardinality(String),
    is_initial_query        UInt8,
    user                    LowCardinality(String),
    http_user_agent         LowCardinality(String),
    client_name             LowCardinality(String),
    log_comment             String,
    query                   String,
    tables                  Array(LowCardinality(String)),
    columns                 Array(LowCardinality(String)),
    exception_code          Int32,
    exception               String,
    query_duration_ms       UInt64,
    read_rows               UInt64,
    result_rows             UInt64
)
ENGINE = Merge('system', '^query_log$');

CREATE TABLE IF NOT EXISTS audit_reads
(
    at          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    query_id    String,
    who         LowCardinality(String) COMMENT 'the Grafana login (grafana_user tag), else the ClickHouse user',
    via_grafana UInt8 COMMENT '1 when the query carried the Grafana plugin''s grafana_user tag',
    ch_user     LowCardinality(String) COMMENT 'the ClickHouse user (a Grafana data source''s user)',
    kind        LowCardinality(String) COMMENT 'query_log.query_kind: Select, Insert, ...',
    tables      Array(LowCardinality(String)) COMMENT 'database.table read (refused: named in the refusal)',
    columns     Array(LowCardinality(String)) COMMENT 'database.table.column read',
    sensitive   Array(LowCardinality(String)) COMMENT 'sensitive classes of those columns (access definition)',
    denied      UInt8 COMMENT '1 when refused with ACCESS_DENIED (497)',
    error_code  Int32 COMMENT 'ClickHouse exception code, 0 when it succeeded',
    dashboard   String COMMENT 'Grafana dashboard uid (grafana_dashboard tag)',
    panel       String COMMENT 'Grafana panel id (grafana_panel tag)',
    rule        String COMMENT 'Grafana alert rule uid (grafana_rule tag)',
    duration_ms UInt64,
    read_rows   UInt64,
    result_rows UInt64,
    agent       String CODEC(ZSTD(3)) COMMENT 'the client''s User-Agent as logged',
    query       String CODEC(ZSTD(3)) COMMENT 'the SQL, first 4 KiB'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, who)
TTL toDateTime(at) + INTERVAL 1 YEAR;

-- Every minute, the log's new finished queries; `pulse audit reads` and the bridge's shutdown refresh
-- it at once. Re-reading the last hour and skipping query ids already copied means a late flush is
-- neither missed nor copied twice.
CREATE MATERIALIZED VIEW IF NOT EXISTS audit_reads_feed
REFRESH EVERY 1 MINUTE APPEND TO audit_reads
AS
WITH
    (SELECT max(at) FROM audit_reads) AS copied_until,  -- 1970 when empty: DateTime64 goes below it
    (SELECT groupArray((column, class)) FROM audit_sensitive_columns) AS rules,
    arrayFirst(s -> position(s, 'grafana_user:') > 0, [http_user_agent, client_name, log_comment]) AS tagged,
    if(tagged != '', tagged, if(http_user_agent != '', http_user_agent, log_comment)) AS ua,
    exception_code = 497 AS refused,
    if(refused, arrayDistinct(extractAll(exception, ' ON ([A-Za-z0-9_]+\\.[A-Za-z0-9_]+)')), tables) AS read_tables,
    (SELECT groupArray(concat(database, '.', table, '.', name)) FROM system.columns
     WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema')) AS known_columns,
    if(
        refused,
        arrayFilter(
            c -> has(known_columns, c),
            arrayDistinct(arrayFlatten(arrayMap(t -> arrayMap(n -> concat(t, '.', n), extractAll(query, '[A-Za-z_][A-Za-z0-9_]*')), read_tables)))
        ),
        columns
    ) AS read_columns
SELECT
    toDateTime64(event_time_microseconds, 6, 'UTC')                                  AS at,
    query_id,
    if(tagged != '', extract(tagged, 'grafana_user:([^;)]+)'), user)                  AS who,
    tagged != ''                                                                     AS via_grafana,
    user                                                                             AS ch_user,
    query_kind                                                                       AS kind,
    read_tables                                                                      AS tables,
    read_columns                                                                     AS columns,
    arraySort(arrayDistinct(arrayFlatten(arrayMap(
        c -> arrayMap(r -> r.2, arrayFilter(r -> r.1 = c, rules)), read_columns))))          AS sensitive,
    refused                                                                          AS denied,
    exception_code                                                                   AS error_code,
    extract(ua, 'grafana_dashboard:([^;)]+)')                                        AS dashboard,
    extract(ua, 'grafana_panel:([^;)]+)')                                            AS panel,
    extract(ua, 'grafana_rule:([^;)]+)')                                             AS rule,
    query_duration_ms                                                                AS duration_ms,
    read_rows,
    result_rows,
    ua                                                                               AS agent,
    substring(query, 1, 4096)                                                        AS query
FROM audit_query_log
WHERE type != 'QueryStart'
  AND is_initial_query
  AND event_time_microseconds >= copied_until - INTERVAL 1 HOUR
  AND query_id NOT IN (SELECT query_id FROM audit_reads WHERE at >= copied_until - INTERVAL 2 HOUR)
  AND (refused OR (query_kind = 'Select' AND arrayExists(t -> NOT startsWith(t, 'system.') AND NOT startsWith(lower(t), 'information_schema.'), tables)))
  AND NOT arrayExists(t -> endsWith(t, '.audit_query_log'), tables);
