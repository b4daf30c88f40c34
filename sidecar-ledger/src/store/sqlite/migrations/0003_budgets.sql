-- Schema version 3: billing-budget alerts (fired once per threshold per period) and
-- their webhook deliveries, with retry state.

CREATE TABLE budget_alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    team            TEXT    NOT NULL,
    period_start_ms INTEGER NOT NULL,
    period_end_ms   INTEGER NOT NULL,
    kind            TEXT    NOT NULL,  -- actual | forecast
    threshold_pct   INTEGER NOT NULL,
    fired_ms        INTEGER NOT NULL,
    spent_nanos     INTEGER NOT NULL,
    budget_nanos    INTEGER NOT NULL,
    forecast_nanos  INTEGER NOT NULL,
    message         TEXT    NOT NULL,
    UNIQUE (team, period_start_ms, kind, threshold_pct)
);

CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL REFERENCES budget_alerts (id),
    url             TEXT    NOT NULL,
    format          TEXT    NOT NULL,  -- generic | slack
    status          TEXT    NOT NULL,  -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error      TEXT,
    delivered_ms    INTEGER
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_ms);
