-- audit_log: who changed what in Pulse (access, schema, write keys), one row per action, kept a year.
--
-- Append-only by grants: the access definition grants SELECT on it to Admin alone and INSERT to
-- nobody; only the operator's own user (`pulse migrate`, `pulse access apply`, `pulse keys ...`)
-- writes it, and nothing updates or deletes rows. The queries people run are not copied here:
-- system.query_log holds them (docs/access.md).

CREATE TABLE IF NOT EXISTS audit_log
(
    at      DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    who     LowCardinality(String),
    action  LowCardinality(String),
    target  String,
    details String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, action)
TTL toDateTime(at) + INTERVAL 1 YEAR;
