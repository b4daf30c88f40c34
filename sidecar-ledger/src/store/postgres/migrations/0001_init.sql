-- PostgreSQL schema version 1 (the same tables as the SQLite schema of that version).
-- Money is BIGINT nanodollars; times are BIGINT Unix milliseconds UTC. Enum columns
-- hold the event's JSON names (`chat_completions`, `ok`, `hit`, ...).
-- Text columns use the "C" collation: byte order, as SQLite sorts, whatever the
-- database's default collation is, so every ORDER BY answers as on SQLite.

-- One row per cost event. `seq` is arrival order (ties on ts_ms are listed
-- newest-arrived first); `id` is the idempotency key shared by every ledger instance.
CREATE TABLE events (
    seq                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  TEXT COLLATE "C" NOT NULL UNIQUE,
    ts_ms               BIGINT  NOT NULL,
    consumer_group      TEXT COLLATE "C" NOT NULL,
    team                TEXT COLLATE "C" NOT NULL,
    user_id             TEXT COLLATE "C",
    workflow            TEXT COLLATE "C",
    api                 TEXT COLLATE "C" NOT NULL,
    provider            TEXT COLLATE "C",
    lane                TEXT COLLATE "C",
    model_requested     TEXT COLLATE "C" NOT NULL,
    model_served        TEXT COLLATE "C" NOT NULL,
    input_tokens        BIGINT  NOT NULL,
    cached_input_tokens BIGINT  NOT NULL,
    cache_write_tokens  BIGINT  NOT NULL,
    output_tokens       BIGINT  NOT NULL,
    usage_source        TEXT COLLATE "C" NOT NULL,
    cost_nanos          BIGINT  NOT NULL,
    unpriced            BOOLEAN NOT NULL,
    outcome             TEXT COLLATE "C" NOT NULL,
    http_status         BIGINT  NOT NULL,
    reason              TEXT COLLATE "C",
    latency_ms          BIGINT  NOT NULL,
    stream              BOOLEAN NOT NULL,
    cache               TEXT COLLATE "C" NOT NULL,
    cost_avoided_nanos  BIGINT  NOT NULL,
    premium             BOOLEAN NOT NULL,
    premium_approved    BOOLEAN NOT NULL,
    received_ms         BIGINT  NOT NULL
);
-- (ts_ms, seq): the keyset of exports and of the recent-events listing.
CREATE INDEX events_ts ON events (ts_ms, seq);
CREATE INDEX events_team_ts ON events (team, ts_ms, seq);

-- Hourly sums per attribution key, maintained in the same transaction as the event
-- insert. Absent optional attributes are '' (not NULL) so they take part in the key.
CREATE TABLE rollup_hourly (
    hour_ms             BIGINT NOT NULL,
    team                TEXT COLLATE "C" NOT NULL,
    consumer_group      TEXT COLLATE "C" NOT NULL,
    user_id             TEXT COLLATE "C" NOT NULL,
    workflow            TEXT COLLATE "C" NOT NULL,
    provider            TEXT COLLATE "C" NOT NULL,
    lane                TEXT COLLATE "C" NOT NULL,
    model_served        TEXT COLLATE "C" NOT NULL,
    api                 TEXT COLLATE "C" NOT NULL,
    outcome             TEXT COLLATE "C" NOT NULL,
    cache               TEXT COLLATE "C" NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    cost_avoided_nanos  BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, team, consumer_group, user_id, workflow, provider, lane,
                 model_served, api, outcome, cache)
);
CREATE INDEX rollup_team_hour ON rollup_hourly (team, hour_ms);

-- Events that could not be parsed or failed validation, verbatim.
CREATE TABLE rejected_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_ms BIGINT NOT NULL,
    batch_index BIGINT NOT NULL,
    error       TEXT   NOT NULL,
    raw         TEXT   NOT NULL
);
