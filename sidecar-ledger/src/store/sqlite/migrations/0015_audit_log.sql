-- The audit log: one row per privileged action (allocations, hold resolutions, leaders'
-- policy, budget and allocation decisions, tokens created and revoked), with who, when,
-- what and the state before and after (JSON text). Append-only: updates and deletes
-- are refused.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms  INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    team   TEXT,
    before TEXT,
    after  TEXT
);
CREATE INDEX audit_log_team ON audit_log (team, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
