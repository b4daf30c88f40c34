-- Schema version 13: whether a cache miss repeated, under normalisation, an answer
-- stored within the cache's lifetime (set by the filter; see the cache-opportunity
-- insight), and an index over those misses alone.
ALTER TABLE events ADD COLUMN near_repeat INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_near_repeat ON events (ts_ms) WHERE near_repeat = 1;
