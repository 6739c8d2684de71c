-- The loader records, with each range it plans, the deduplication token of the insert that carries
-- it (its flush). A loader that rebuilds every range of a recorded flush after a crash repeats that
-- very insert under that token, so the views below `events` that a dying warehouse had not written
-- yet are completed, as a retry would have (pulse.loader.sink). '' = recorded before this column.

ALTER TABLE loader_batches ADD COLUMN IF NOT EXISTS flush String DEFAULT '' AFTER token;
