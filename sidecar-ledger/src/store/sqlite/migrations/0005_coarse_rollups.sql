-- Schema version 5: coarse rollups, so `/v1/spend` reads few rows however many users
-- and workflows there are (see store/spend_plan.rs and store/rollup_deltas.rs).
--
-- * rollup_hourly_coarse: rollup_hourly's key without user and workflow. Answers the
--   partial days at the ends of a range, and hour buckets, for queries that neither
--   group nor filter by user or workflow.
-- * rollup_daily_coarse: the same per UTC day, with the premium flags. Answers the
--   whole days of such queries, and replaces rollup_daily_team (version 4) for the
--   dashboard: it holds everything that did, plus consumer group, api and outcome,
--   so ingest maintains one daily table for both instead of two.
--
-- Maintained in the ingest transaction like the others. Filled here: the hourly one by
-- summing rollup_hourly, of which it is a projection; the daily one from the events,
-- since only they carry the premium flags.

CREATE TABLE rollup_hourly_coarse (
    hour_ms             INTEGER NOT NULL,
    team                TEXT    NOT NULL,
    consumer_group      TEXT    NOT NULL,
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
    PRIMARY KEY (hour_ms, team, consumer_group, provider, lane, model_served, api,
                 outcome, cache)
) WITHOUT ROWID;
CREATE INDEX rollup_hourly_coarse_team ON rollup_hourly_coarse (team, hour_ms);

CREATE TABLE rollup_daily_coarse (
    day_ms              INTEGER NOT NULL,
    team                TEXT    NOT NULL,
    consumer_group      TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    lane                TEXT    NOT NULL,
    model_served        TEXT    NOT NULL,
    api                 TEXT    NOT NULL,
    outcome             TEXT    NOT NULL,
    cache               TEXT    NOT NULL,
    premium             INTEGER NOT NULL,
    premium_approved    INTEGER NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    cost_avoided_nanos  INTEGER NOT NULL,
    PRIMARY KEY (day_ms, team, consumer_group, provider, lane, model_served, api,
                 outcome, cache, premium, premium_approved)
) WITHOUT ROWID;
CREATE INDEX rollup_daily_coarse_team ON rollup_daily_coarse (team, day_ms);

INSERT INTO rollup_hourly_coarse
    SELECT hour_ms, team, consumer_group, provider, lane, model_served, api, outcome,
           cache, SUM(requests), SUM(input_tokens), SUM(cached_input_tokens),
           SUM(cache_write_tokens), SUM(output_tokens), SUM(cost_nanos),
           SUM(cost_avoided_nanos)
    FROM rollup_hourly
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

INSERT INTO rollup_daily_coarse
    SELECT (ts_ms / 86400000) * 86400000, team, consumer_group, COALESCE(provider, ''),
           COALESCE(lane, ''), model_served, api, outcome, cache, premium,
           premium_approved, COUNT(*), SUM(input_tokens), SUM(cached_input_tokens),
           SUM(cache_write_tokens), SUM(output_tokens), SUM(cost_nanos),
           SUM(cost_avoided_nanos)
    FROM events
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;

DROP TABLE rollup_daily_team;
