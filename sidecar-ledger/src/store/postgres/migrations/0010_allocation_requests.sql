-- PostgreSQL schema version 10: allocation requests (see the SQLite migration of this
-- number).
CREATE TABLE allocation_requests (
    id               BIGSERIAL PRIMARY KEY,
    team             TEXT COLLATE "C" NOT NULL,
    amount_nanos     BIGINT NOT NULL,
    reason           TEXT NOT NULL,
    requested_by     TEXT COLLATE "C" NOT NULL,
    requested_ms     BIGINT NOT NULL,
    evidence         TEXT NOT NULL,
    status           TEXT COLLATE "C" NOT NULL DEFAULT 'pending',
    decided_by       TEXT COLLATE "C",
    decided_ms       BIGINT,
    approved_nanos   BIGINT,
    decision_comment TEXT,
    wallet_entry_id  BIGINT,
    idempotency_key  TEXT COLLATE "C"
);
CREATE INDEX allocation_requests_team ON allocation_requests (team, id);
CREATE INDEX allocation_requests_status ON allocation_requests (status, id);
CREATE UNIQUE INDEX allocation_requests_idempotency ON allocation_requests (team, idempotency_key);
