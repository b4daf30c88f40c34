-- PostgreSQL schema version 16: alerts leaders see and act on, and where they go
-- (see the SQLite migration of the same number for what each column holds). Several
-- ledgers on one database fire an alert once: the unique key decides, as for budget
-- thresholds.
ALTER TABLE budget_alerts
    ADD COLUMN subject  TEXT,
    ADD COLUMN details  TEXT,
    ADD COLUMN acked_by TEXT,
    ADD COLUMN acked_ms BIGINT,
    ADD COLUMN ack_note TEXT,
    ADD COLUMN ack_key  TEXT;
CREATE INDEX budget_alerts_team ON budget_alerts (team, id);
ALTER TABLE alert_deliveries
    ADD COLUMN channel_id   BIGINT,
    ADD COLUMN channel_name TEXT;
CREATE INDEX alert_deliveries_channel ON alert_deliveries (channel_id, status);

CREATE TABLE alert_subjects (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team    TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    UNIQUE (team, subject)
);

CREATE TABLE alert_channels (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team            TEXT COLLATE "C" NOT NULL,
    kind            TEXT   NOT NULL,  -- webhook | slack | email
    name            TEXT   NOT NULL,
    target          TEXT   NOT NULL,  -- the URL (a secret, never shown) or the addresses
    receives        TEXT   NOT NULL,  -- alerts | digests | alerts,digests
    created_by      TEXT   NOT NULL,
    created_ms      BIGINT NOT NULL,
    removed_by      TEXT,
    removed_ms      BIGINT,
    idempotency_key TEXT
);
CREATE INDEX alert_channels_team ON alert_channels (team, id);
CREATE UNIQUE INDEX alert_channels_idempotency ON alert_channels (team, idempotency_key);
