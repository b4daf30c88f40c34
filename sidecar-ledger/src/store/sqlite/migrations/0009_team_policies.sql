-- Schema version 9: leaders' runtime policy per team (pauses, premium restrictions,
-- pins, normalised caching), and every change to it with who, when and why.
-- team_policies holds each team's policy as JSON (tollgate_core::policy::TeamPolicy)
-- and the id of the change that made it; the policy document's version is the
-- largest of those ids. policy_changes is append-only.
CREATE TABLE policy_changes (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    team   TEXT    NOT NULL,
    change TEXT    NOT NULL,
    actor  TEXT    NOT NULL,
    reason TEXT    NOT NULL,
    ts_ms  INTEGER NOT NULL,
    -- A retried request with the same key (per team) does not make a second change.
    idempotency_key TEXT
);
CREATE INDEX policy_changes_team ON policy_changes (team, id);
CREATE TABLE team_policies (
    team    TEXT    PRIMARY KEY,
    policy  TEXT    NOT NULL,
    version INTEGER NOT NULL
);
CREATE UNIQUE INDEX policy_changes_idempotency ON policy_changes (team, idempotency_key);
