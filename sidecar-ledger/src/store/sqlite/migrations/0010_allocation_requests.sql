-- Schema version 10: allocation requests. A team asks for more wallet allocation with
-- the evidence the ledger computed at filing (JSON, frozen); finance or an admin
-- approves (possibly another amount; the wallet entry is written in the same
-- transaction and linked here) or declines, with a comment.
CREATE TABLE allocation_requests (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    team             TEXT NOT NULL,
    amount_nanos     INTEGER NOT NULL,
    reason           TEXT NOT NULL,
    requested_by     TEXT NOT NULL,
    requested_ms     INTEGER NOT NULL,
    evidence         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    decided_by       TEXT,
    decided_ms       INTEGER,
    approved_nanos   INTEGER,
    decision_comment TEXT,
    wallet_entry_id  INTEGER,
    idempotency_key  TEXT
);
CREATE INDEX allocation_requests_team ON allocation_requests (team, id);
CREATE INDEX allocation_requests_status ON allocation_requests (status, id);
CREATE UNIQUE INDEX allocation_requests_idempotency ON allocation_requests (team, idempotency_key);
