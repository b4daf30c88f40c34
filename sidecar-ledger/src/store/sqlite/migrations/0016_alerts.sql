-- Schema version 16: alerts leaders see and act on, and where they go.
-- budget_alerts holds every notice the ledger sends (budget thresholds, wallet low,
-- spend anomalies, leaders' actions, digests): `subject` names the workflow an alert is
-- about (NULL: the whole team), `details` its facts as JSON, and the acknowledgement
-- who, when and why. alert_subjects numbers each (team, workflow) so that the unique
-- key (team, period, kind, threshold_pct) fires a workflow's alert once per period
-- (threshold_pct holds the subject's number). alert_channels are the teams' own
-- delivery channels ('*': every team's alerts and the finance digests); removal is
-- recorded, never deleted. A delivery names the channel it was made for.
ALTER TABLE budget_alerts ADD COLUMN subject TEXT;
ALTER TABLE budget_alerts ADD COLUMN details TEXT;
ALTER TABLE budget_alerts ADD COLUMN acked_by TEXT;
ALTER TABLE budget_alerts ADD COLUMN acked_ms INTEGER;
ALTER TABLE budget_alerts ADD COLUMN ack_note TEXT;
ALTER TABLE budget_alerts ADD COLUMN ack_key TEXT;
CREATE INDEX budget_alerts_team ON budget_alerts (team, id);
ALTER TABLE alert_deliveries ADD COLUMN channel_id INTEGER;
ALTER TABLE alert_deliveries ADD COLUMN channel_name TEXT;
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (alert_id, id);
CREATE INDEX alert_deliveries_channel ON alert_deliveries (channel_id, status);

CREATE TABLE alert_subjects (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    team    TEXT NOT NULL,
    subject TEXT NOT NULL,
    UNIQUE (team, subject)
);

CREATE TABLE alert_channels (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    team            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,  -- webhook | slack | email
    name            TEXT    NOT NULL,
    target          TEXT    NOT NULL,  -- the URL (a secret, never shown) or the addresses
    receives        TEXT    NOT NULL,  -- alerts | digests | alerts,digests
    created_by      TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    removed_by      TEXT,
    removed_ms      INTEGER,
    idempotency_key TEXT
);
CREATE INDEX alert_channels_team ON alert_channels (team, id);
CREATE UNIQUE INDEX alert_channels_idempotency ON alert_channels (team, idempotency_key);
