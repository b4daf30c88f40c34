-- Schema version 16: each event's normalised prompt fingerprint (when the cache was
-- consulted), and an index to find the earlier request a miss repeated under
-- normalisation (the cache-opportunity insight).
ALTER TABLE events ADD COLUMN prompt_fingerprint TEXT;
CREATE INDEX events_fingerprint ON events (team, prompt_fingerprint, ts_ms)
    WHERE prompt_fingerprint IS NOT NULL;
