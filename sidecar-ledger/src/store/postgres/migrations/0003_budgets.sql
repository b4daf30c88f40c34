-- PostgreSQL schema version 3: billing-budget alerts (fired once per threshold per
-- period, whichever ledger instance sees it first: the UNIQUE key decides) and their
-- webhook deliveries, with retry state.

CREATE TABLE budget_alerts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team            TEXT COLLATE "C" NOT NULL,
    period_start_ms BIGINT NOT NULL,
    period_end_ms   BIGINT NOT NULL,
    kind            TEXT   NOT NULL,  -- actual | forecast
    threshold_pct   BIGINT NOT NULL,
    fired_ms        BIGINT NOT NULL,
    spent_nanos     BIGINT NOT NULL,
    budget_nanos    BIGINT NOT NULL,
    forecast_nanos  BIGINT NOT NULL,
    message         TEXT   NOT NULL,
    UNIQUE (team, period_start_ms, kind, threshold_pct)
);

CREATE TABLE alert_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        BIGINT NOT NULL REFERENCES budget_alerts (id),
    url             TEXT   NOT NULL,
    format          TEXT   NOT NULL,  -- generic | slack
    status          TEXT   NOT NULL,  -- pending | delivered | failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error      TEXT,
    delivered_ms    BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_ms);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, id);
