-- PostgreSQL schema version 18: the providers' own reports, and cost adjustments from
-- repricing (see the SQLite migration of the same number for what each column holds).
CREATE TABLE provider_report_lines (
    provider              TEXT COLLATE "C" NOT NULL,
    kind                  TEXT    NOT NULL,
    day_ms                BIGINT  NOT NULL,
    model                 TEXT COLLATE "C" NOT NULL,
    line                  TEXT COLLATE "C" NOT NULL,
    amount_nanos          BIGINT  NOT NULL,
    currency              TEXT    NOT NULL,
    input_tokens          BIGINT  NOT NULL,
    cached_input_tokens   BIGINT  NOT NULL,
    cache_write_tokens    BIGINT  NOT NULL,
    cache_write_1h_tokens BIGINT  NOT NULL,
    output_tokens         BIGINT  NOT NULL,
    requests              BIGINT  NOT NULL,
    web_search_calls      BIGINT  NOT NULL,
    source                TEXT    NOT NULL,
    imported_ms           BIGINT  NOT NULL,
    PRIMARY KEY (provider, kind, day_ms, model, line)
);
CREATE INDEX provider_report_lines_day ON provider_report_lines (day_ms);

CREATE TABLE cost_adjustments (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           TEXT    NOT NULL,
    event_id         TEXT COLLATE "C" NOT NULL,
    ts_ms            BIGINT  NOT NULL,
    team             TEXT COLLATE "C" NOT NULL,
    consumer_group   TEXT    NOT NULL,
    user_id          TEXT,
    workflow         TEXT,
    api              TEXT    NOT NULL,
    provider         TEXT,
    lane             TEXT,
    model_served     TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    cache            TEXT    NOT NULL,
    premium          BOOLEAN NOT NULL,
    premium_approved BOOLEAN NOT NULL,
    delta_nanos      BIGINT  NOT NULL,
    cost_after_nanos BIGINT  NOT NULL,
    priced_by        TEXT,
    created_ms       BIGINT  NOT NULL
);
CREATE INDEX cost_adjustments_event ON cost_adjustments (event_id, id);
CREATE INDEX cost_adjustments_ts ON cost_adjustments (ts_ms);
CREATE INDEX cost_adjustments_team_ts ON cost_adjustments (team, ts_ms);
