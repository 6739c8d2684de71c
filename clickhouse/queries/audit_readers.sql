-- Readers in the range, one row per person: how many reads, how many of sensitive columns, how many
-- refused, which tables and when last (audit_reads). `sensitive != []`, not notEmpty(): the engine
-- rewrites notEmpty/empty/length to the array's size subcolumn, which a column grant does not cover.
-- @unit reads
-- @param from DateTime64(3) = now-1d : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @column who String : the Grafana login, else the ClickHouse user
-- @column reads UInt64 : queries that read a table
-- @column sensitive_reads UInt64 : of those, reads of sensitive columns
-- @column refused UInt64 : queries refused with ACCESS_DENIED
-- @column tables_read Array(String) : the tables read or attempted
-- @column last_at DateTime64(6,'UTC') : the newest read
SELECT
    toString(who)                                            AS who,
    countIf(NOT denied)                                      AS reads,
    countIf(NOT denied AND sensitive != [])                  AS sensitive_reads,
    countIf(denied)                                          AS refused,
    arraySort(CAST(groupUniqArrayArray(tables), 'Array(String)')) AS tables_read,
    max(at)                                                  AS last_at
FROM audit_reads
WHERE at >= {from:DateTime64(3)} AND at < {to:DateTime64(3)}
GROUP BY who
ORDER BY refused DESC, sensitive_reads DESC, reads DESC
