-- The audit log: one row per privileged action (allocations, hold resolutions, leaders'
-- policy, budget and allocation decisions, tokens created and revoked), with who, when,
-- what and the state before and after (JSON text). Append-only: updates and deletes
-- are refused.
CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    ts_ms  BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    team   TEXT,
    before TEXT,
    after  TEXT
);
CREATE INDEX audit_log_team ON audit_log (team, id);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
