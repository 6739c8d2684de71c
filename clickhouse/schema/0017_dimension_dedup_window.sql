-- The dimension tables fed by views below `events` remember insert tokens like every other table
-- there. A loader rebuilding a crashed flush repeats its insert under the flush's token (0016);
-- each target of a view deduplicates that repeat on its own, so a target without a window took
-- the repeated rows a second time (users, posts and campaigns: harmless to their latest values,
-- but counts of their rows doubled). On a cluster `pulse migrate` sets the replicated tables'
-- replicated_deduplication_window instead, as it does in every CREATE.

ALTER TABLE users MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE posts MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE campaigns MODIFY SETTING non_replicated_deduplication_window = 10000;
