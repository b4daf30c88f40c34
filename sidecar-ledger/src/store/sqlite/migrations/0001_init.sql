-- Schema version 1. Money is integer nanodollars; times are Unix milliseconds UTC.
-- Enum columns hold the event's JSON names (`chat_completions`, `ok`, `hit`, ...).

-- One row per cost event, every CostEvent field a column. `seq` is arrival order
-- (ties on ts_ms are listed newest-arrived first); `id` is the idempotency key.
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    ts_ms               INTEGER NOT NULL,
    consumer_group      TEXT    NOT NULL,
    team                TEXT    NOT NULL,
    user_id             TEXT,
    workflow            TEXT,
    api                 TEXT    NOT NULL,
    provider            TEXT,
    lane                TEXT,
    model_requested     TEXT    NOT NULL,
    model_served        TEXT    NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    usage_source        TEXT    NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    unpriced            INTEGER NOT NULL,
    outcome             TEXT    NOT NULL,
    http_status         INTEGER NOT NULL,
    reason              TEXT,
    latency_ms          INTEGER NOT NULL,
    stream              INTEGER NOT NULL,
    cache               TEXT    NOT NULL,
    cost_avoided_nanos  INTEGER NOT NULL,
    premium             INTEGER NOT NULL,
    premium_approved    INTEGER NOT NULL,
    received_ms         INTEGER NOT NULL
);
CREATE INDEX events_ts ON events (ts_ms);
CREATE INDEX events_team_ts ON events (team, ts_ms);

-- Hourly sums per attribution key, maintained in the same transaction as the event
-- insert, so spend queries read O(hours × keys) rows however many events there are.
-- Absent optional attributes are '' (not NULL) so they take part in the key.
CREATE TABLE rollup_hourly (
    hour_ms             INTEGER NOT NULL,
    team                TEXT    NOT NULL,
    consumer_group      TEXT    NOT NULL,
    user_id             TEXT    NOT NULL,
    workflow            TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    lane                TEXT    NOT NULL,
    model_served        TEXT    NOT NULL,
    api                 TEXT    NOT NULL,
    outcome             TEXT    NOT NULL,
    cache               TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    cost_avoided_nanos  INTEGER NOT NULL,
    PRIMARY KEY (hour_ms, team, consumer_group, user_id, workflow, provider, lane,
                 model_served, api, outcome, cache)
) WITHOUT ROWID;
CREATE INDEX rollup_team_hour ON rollup_hourly (team, hour_ms);

-- Events that could not be parsed or failed validation, verbatim, so a poison event
-- is neither lost nor retried forever by its sender.
CREATE TABLE rejected_events (
    seq         INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    batch_index INTEGER NOT NULL,
    error       TEXT    NOT NULL,
    raw         TEXT    NOT NULL
);
