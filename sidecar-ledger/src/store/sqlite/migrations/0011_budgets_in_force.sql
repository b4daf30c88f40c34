-- Schema version 11: the budgets in force and every change to them. The config file
-- seeds a team's budget; budgets_in_force.def is the one in force (NULL: none) and
-- file_def the file's as last read, so a reload changes a budget only when the file's
-- changed (the latest edit wins). budget_changes is append-only except for a
-- proposal's decision.
CREATE TABLE budgets_in_force (
    team       TEXT PRIMARY KEY,
    def        TEXT,
    file_def   TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE budget_changes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    team             TEXT NOT NULL,
    before           TEXT,
    after            TEXT,
    actor            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    ts_ms            INTEGER NOT NULL,
    status           TEXT NOT NULL,
    decided_by       TEXT,
    decided_ms       INTEGER,
    decision_comment TEXT,
    idempotency_key  TEXT
);
CREATE INDEX budget_changes_team ON budget_changes (team, id);
CREATE INDEX budget_changes_status ON budget_changes (status, id);
CREATE UNIQUE INDEX budget_changes_idempotency ON budget_changes (team, idempotency_key);
