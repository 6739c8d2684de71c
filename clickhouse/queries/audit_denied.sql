-- Refused attempts in the range: per person and table, how many queries ClickHouse refused with
-- ACCESS_DENIED and which sensitive classes they were after (audit_reads).
-- @unit queries
-- @param from DateTime64(3) = now-1d : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @column who String : the Grafana login, else the ClickHouse user
-- @column table String : the table named in the refusal
-- @column attempts UInt64 : refused queries
-- @column classes Array(String) : sensitive classes of the columns the queries named
-- @column last_at DateTime64(6,'UTC') : the newest attempt
SELECT
    toString(who)                                            AS who,
    toString(arrayJoin(if(tables = [], [''], tables)))     AS table,
    count()                                                  AS attempts,
    arraySort(CAST(groupUniqArrayArray(sensitive), 'Array(String)')) AS classes,
    max(at)                                                  AS last_at
FROM audit_reads
WHERE denied AND at >= {from:DateTime64(3)} AND at < {to:DateTime64(3)}
GROUP BY who, table
ORDER BY attempts DESC, last_at DESC
