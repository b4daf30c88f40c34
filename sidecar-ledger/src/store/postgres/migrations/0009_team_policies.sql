-- PostgreSQL schema version 9: leaders' runtime policy per team and its change log
-- (see the SQLite migration of this number).
CREATE TABLE policy_changes (
    id     BIGSERIAL PRIMARY KEY,
    team   TEXT COLLATE "C" NOT NULL,
    change TEXT NOT NULL,
    actor  TEXT COLLATE "C" NOT NULL,
    reason TEXT NOT NULL,
    ts_ms  BIGINT NOT NULL,
    idempotency_key TEXT COLLATE "C"
);
CREATE INDEX policy_changes_team ON policy_changes (team, id);
CREATE TABLE team_policies (
    team    TEXT COLLATE "C" PRIMARY KEY,
    policy  TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX policy_changes_idempotency ON policy_changes (team, idempotency_key);
