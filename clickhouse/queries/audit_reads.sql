-- Who read which data: each read of a warehouse table and each refused query in the range, newest
-- first, attributed to the Grafana login (else the ClickHouse user), with the sensitive classes of
-- the columns it read (audit_reads, fed from the query log; 0011_audit_reads.sql).
-- @unit reads
-- @param from DateTime64(3) = now-1d : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param who String = '' : a Grafana login or ClickHouse user; '' means everybody
-- @param only String = all in all|sensitive|denied : every read, reads of sensitive columns, or refused queries
-- @param limit UInt32 = 500 : newest rows shown
-- @column at DateTime64(6,'UTC') : when the query finished (or was refused)
-- @column who String : the Grafana login, else the ClickHouse user
-- @column ch_user String : the ClickHouse user (the Grafana data source's)
-- @column tables Array(String) : tables read (refused: named in the refusal)
-- @column sensitive Array(String) : sensitive classes of the columns read
-- @column denied UInt8 : 1 when refused with ACCESS_DENIED
-- @column dashboard String : Grafana dashboard uid, '' outside dashboards
-- @column panel String : Grafana panel id
-- @column duration_ms UInt64 : query duration
-- @column read_rows UInt64 : rows the query read
SELECT
    at,
    toString(who)                            AS who,
    toString(ch_user)                        AS ch_user,
    CAST(tables, 'Array(String)')            AS tables,
    CAST(sensitive, 'Array(String)')         AS sensitive,
    denied,
    dashboard,
    panel,
    duration_ms,
    read_rows
FROM audit_reads
WHERE at >= {from:DateTime64(3)} AND at < {to:DateTime64(3)}
  AND ({who:String} = '' OR who = {who:String})
  AND multiIf({only:String} = 'sensitive', sensitive != [], {only:String} = 'denied', denied = 1, 1)
ORDER BY at DESC
LIMIT {limit:UInt32}
