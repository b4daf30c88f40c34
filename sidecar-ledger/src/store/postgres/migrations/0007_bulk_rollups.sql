-- PostgreSQL schema version 7: the rollups catch up with the events in bulk
-- (store/postgres/fold.rs). An ingest transaction no longer touches the rollups; it
-- records which events it stored, as runs of consecutive `events.seq` values, in one
-- `rollup_pending` row committed with them. A fold, one at a time (it locks the
-- `rollup_fold` row), deletes the pending rows it can see and adds their events to
-- every rollup in the same transaction.
--
-- Every event stored before this version is in the rollups already and has no
-- pending row, so nothing is folded twice. A ledger of an older version still running
-- against this database keeps maintaining the rollups itself and writes no pending
-- rows: its events count once too.

CREATE TABLE rollup_pending (
    lo BIGINT[] NOT NULL,  -- first seq of each run
    hi BIGINT[] NOT NULL   -- last seq of each run (inclusive)
);

-- One row: held FOR UPDATE by the fold in progress.
CREATE TABLE rollup_fold (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO rollup_fold (id) VALUES (1);
