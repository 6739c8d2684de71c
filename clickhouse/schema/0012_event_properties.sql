-- Custom events' properties as a Map column, so Explore filters and rollups by a property are cheap.
--
-- Why a Map: measured with `pulse bench properties` (1M custom events, chDB 26.9, 2 shared cores;
-- docs/tracking-plans.md): a filter on one property takes ~38 ms on the Map against ~510 ms with
-- JSONExtractString over the String, a GROUP BY a property with uniq() ~90 ms against ~480 ms; the
-- JSON type reads as fast for a filter (~47 ms) but was slower to group by (~190 ms) and ~5x slower
-- to insert, which the loader pays on every event. Values are text ('5', 'true', '[1,2]'), so
-- numbers are read with toInt64OrZero(props['duration_ms']) / toDecimal64OrZero(..., 6).
--
-- MATERIALIZED: the engine fills it on insert from `properties`, which stays the record of what
-- the client sent (the loader, the archive and the hot layer are unchanged); parts written before
-- this migration compute it on read until merged. The one way to read "property X of an event" is
-- props['X'] (pulse.warehouse.properties.event_property renders it for generated SQL).
-- The flags the tracking plans add (unplanned, missing:<p>, invalid:<p>, enriched:<field>, ...) are
-- listed in docs/tracking-plans.md; 0009 keeps owning the comments of the columns it comments.

ALTER TABLE events ADD COLUMN IF NOT EXISTS props Map(LowCardinality(String), String)
    MATERIALIZED JSONExtract(properties, 'Map(LowCardinality(String), String)')
    COMMENT 'the event\'s properties (those not promoted to columns) as text by name: props[\'country\']; numbers as text (toInt64OrZero(props[\'n\'])); read this, not JSONExtract(properties)';
