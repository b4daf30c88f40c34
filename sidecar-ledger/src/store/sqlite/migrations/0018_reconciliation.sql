-- Schema version 18: the providers' own reports, and cost adjustments from repricing.
--
-- provider_report_lines: one line of a provider's cost or usage report as imported
--   (OpenAI organization Costs / Usage API, Anthropic Admin API cost / usage report).
--   kind is 'cost' (amount_nanos set) or 'usage' (token counts set); day_ms is the UTC
--   day the provider's bucket starts; model is the model as the provider named it
--   ('' when the line names none); line identifies the line within the day and model
--   (line item, description, workspace or project). Importing a line again replaces
--   it, so a report imported twice counts once.
-- cost_adjustments: the difference repricing found between an event's recorded cost
--   and its cost at the current prices, one row per event and run, never an edit of
--   the event. The event's attribution is copied so spend can be grouped alike;
--   cost_after_nanos is the event's cost with this and every earlier adjustment.
CREATE TABLE provider_report_lines (
    provider              TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    day_ms                INTEGER NOT NULL,
    model                 TEXT    NOT NULL,
    line                  TEXT    NOT NULL,
    amount_nanos          INTEGER NOT NULL,
    currency              TEXT    NOT NULL,
    input_tokens          INTEGER NOT NULL,
    cached_input_tokens   INTEGER NOT NULL,
    cache_write_tokens    INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    requests              INTEGER NOT NULL,
    web_search_calls      INTEGER NOT NULL,
    source                TEXT    NOT NULL,
    imported_ms           INTEGER NOT NULL,
    PRIMARY KEY (provider, kind, day_ms, model, line)
);
CREATE INDEX provider_report_lines_day ON provider_report_lines (day_ms);

CREATE TABLE cost_adjustments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    ts_ms            INTEGER NOT NULL,
    team             TEXT    NOT NULL,
    consumer_group   TEXT    NOT NULL,
    user_id          TEXT,
    workflow         TEXT,
    api              TEXT    NOT NULL,
    provider         TEXT,
    lane             TEXT,
    model_served     TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    cache            TEXT    NOT NULL,
    premium          INTEGER NOT NULL,
    premium_approved INTEGER NOT NULL,
    delta_nanos      INTEGER NOT NULL,
    cost_after_nanos INTEGER NOT NULL,
    priced_by        TEXT,
    created_ms       INTEGER NOT NULL
);
CREATE INDEX cost_adjustments_event ON cost_adjustments (event_id, id);
CREATE INDEX cost_adjustments_ts ON cost_adjustments (ts_ms);
CREATE INDEX cost_adjustments_team_ts ON cost_adjustments (team, ts_ms);
