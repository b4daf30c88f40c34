-- Schema version 19: events that parsed but failed the checks against the
-- configuration (unknown team, group or lane, a lane that does not serve the named
-- provider or model, a cost that is not the price of the event's tokens). They are
-- neither spend nor charged to a wallet; operators read them with GET /v1/quarantine.
--
-- event_id is the event's id: a batch retried stores its quarantined events once.
-- holder is the name of the ingest token that posted it; reason is the metric's
-- label (unknown_team, cost_mismatch, ...), detail says which values are at fault;
-- event is the event as JSON.
CREATE TABLE quarantined_events (
    event_id    TEXT    NOT NULL PRIMARY KEY,
    received_ms BIGINT  NOT NULL,
    ts_ms       BIGINT  NOT NULL,
    team        TEXT    NOT NULL,
    cost_nanos  BIGINT  NOT NULL,
    holder      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    event       TEXT    NOT NULL
);
CREATE INDEX quarantined_events_received ON quarantined_events (received_ms, event_id);
