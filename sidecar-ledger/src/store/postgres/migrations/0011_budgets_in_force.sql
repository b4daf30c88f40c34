-- PostgreSQL schema version 11: the budgets in force and every change to them (see the
-- SQLite migration of this number).
CREATE TABLE budgets_in_force (
    team       TEXT COLLATE "C" PRIMARY KEY,
    def        TEXT,
    file_def   TEXT,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE budget_changes (
    id               BIGSERIAL PRIMARY KEY,
    team             TEXT COLLATE "C" NOT NULL,
    before           TEXT,
    after            TEXT,
    actor            TEXT COLLATE "C" NOT NULL,
    reason           TEXT NOT NULL,
    ts_ms            BIGINT NOT NULL,
    status           TEXT COLLATE "C" NOT NULL,
    decided_by       TEXT COLLATE "C",
    decided_ms       BIGINT,
    decision_comment TEXT,
    idempotency_key  TEXT COLLATE "C"
);
CREATE INDEX budget_changes_team ON budget_changes (team, id);
CREATE INDEX budget_changes_status ON budget_changes (status, id);
CREATE UNIQUE INDEX budget_changes_idempotency ON budget_changes (team, idempotency_key);
