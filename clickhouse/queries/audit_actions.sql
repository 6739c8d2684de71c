-- Admin actions in the range, newest first: who migrated the schema, applied access, managed write
-- keys, replayed the archive or changed a retention, with what (audit_log, 0010_audit.sql).
-- @unit actions
-- @param from DateTime64(3) = now-7d : start of the range, inclusive
-- @param to DateTime64(3) = now : end of the range, exclusive
-- @param action String = '' : one action (migrate, access.apply, keys.create, replay, retention, ...); '' means all
-- @column at DateTime64(3,'UTC') : when
-- @column who String : the operator (operating-system user of the pulse process)
-- @column action String : what kind of change
-- @column target String : what it changed
-- @column details String : the change, as JSON
SELECT at, toString(who) AS who, toString(action) AS action, target, details
FROM audit_log
WHERE at >= {from:DateTime64(3)} AND at < {to:DateTime64(3)}
  AND ({action:String} = '' OR action = {action:String})
ORDER BY at DESC
LIMIT 1000
