-- Schema version 7: the rollups catch up with the events in bulk (store/sqlite/fold.rs).
--
-- Ingest stores events (and wallet and lease spend) only; the rollups are brought up
-- to date by folding every event whose seq is above rollup_watermark.seq, many
-- thousands at a time, before any read of the rollups and at least every second
-- under load. The rollups of a database written before this version hold every
-- event already, so the watermark starts at the last event.
--
-- From here on, events above the watermark are in no rollup yet: a later migration
-- that fills a rollup from `events` must take only `seq <= rollup_watermark.seq`.
CREATE TABLE rollup_watermark (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO rollup_watermark (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
