-- PostgreSQL schema versions 4 and 5: what the leaders' dashboard and `/v1/spend` read besides
-- rollup_hourly, and access tokens: the tables of SQLite's versions 4 and 5
-- (0004_insights.sql, 0005_coarse_rollups.sql, which replaced rollup_daily_team by
-- rollup_daily_coarse); see store/rollup_deltas.rs for their keys.
--
-- Every rollup is maintained in the ingest transaction (its rows locked in key order
-- after rollup_hourly's, before the wallets) and filled here from what is stored.
-- Absent optional attributes are ''. Text is "C"-collated (byte order, as SQLite).

CREATE TABLE rollup_daily (
    day_ms              BIGINT  NOT NULL,
    team                TEXT COLLATE "C" NOT NULL,
    consumer_group      TEXT COLLATE "C" NOT NULL,
    workflow            TEXT COLLATE "C" NOT NULL,
    provider            TEXT COLLATE "C" NOT NULL,
    lane                TEXT COLLATE "C" NOT NULL,
    model_served        TEXT COLLATE "C" NOT NULL,
    cache               TEXT COLLATE "C" NOT NULL,
    premium             BOOLEAN NOT NULL,
    premium_approved    BOOLEAN NOT NULL,
    requests            BIGINT  NOT NULL,
    input_tokens        BIGINT  NOT NULL,
    cached_input_tokens BIGINT  NOT NULL,
    cache_write_tokens  BIGINT  NOT NULL,
    output_tokens       BIGINT  NOT NULL,
    cost_nanos          BIGINT  NOT NULL,
    cost_avoided_nanos  BIGINT  NOT NULL,
    PRIMARY KEY (day_ms, team, consumer_group, workflow, provider, lane, model_served,
                 cache, premium, premium_approved)
);
CREATE INDEX rollup_daily_team_day ON rollup_daily (team, day_ms);

CREATE TABLE rollup_daily_user (
    day_ms              BIGINT NOT NULL,
    team                TEXT COLLATE "C" NOT NULL,
    consumer_group      TEXT COLLATE "C" NOT NULL,
    user_id             TEXT COLLATE "C" NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    cost_avoided_nanos  BIGINT NOT NULL,
    PRIMARY KEY (day_ms, team, consumer_group, user_id)
);
CREATE INDEX rollup_daily_user_team_day ON rollup_daily_user (team, day_ms);

CREATE TABLE rollup_hourly_coarse (
    hour_ms             BIGINT NOT NULL,
    team                TEXT COLLATE "C" NOT NULL,
    consumer_group      TEXT COLLATE "C" NOT NULL,
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
    PRIMARY KEY (hour_ms, team, consumer_group, provider, lane, model_served, api,
                 outcome, cache)
);
CREATE INDEX rollup_hourly_coarse_team ON rollup_hourly_coarse (team, hour_ms);

CREATE TABLE rollup_daily_coarse (
    day_ms              BIGINT NOT NULL,
    team                TEXT COLLATE "C" NOT NULL,
    consumer_group      TEXT COLLATE "C" NOT NULL,
    provider            TEXT COLLATE "C" NOT NULL,
    lane                TEXT COLLATE "C" NOT NULL,
    model_served        TEXT COLLATE "C" NOT NULL,
    api                 TEXT COLLATE "C" NOT NULL,
    outcome             TEXT COLLATE "C" NOT NULL,
    cache               TEXT COLLATE "C" NOT NULL,
    premium             BOOLEAN NOT NULL,
    premium_approved    BOOLEAN NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    cost_avoided_nanos  BIGINT NOT NULL,
    PRIMARY KEY (day_ms, team, consumer_group, provider, lane, model_served, api,
                 outcome, cache, premium, premium_approved)
);
CREATE INDEX rollup_daily_coarse_team ON rollup_daily_coarse (team, day_ms);

-- Backfill. SUM(BIGINT) is NUMERIC; the casts back fail on overflow, never wrap.
INSERT INTO rollup_daily
    SELECT (ts_ms / 86400000) * 86400000, team, consumer_group, COALESCE(workflow, ''),
           COALESCE(provider, ''), COALESCE(lane, ''), model_served, cache, premium,
           premium_approved, COUNT(*), SUM(input_tokens)::BIGINT,
           SUM(cached_input_tokens)::BIGINT, SUM(cache_write_tokens)::BIGINT,
           SUM(output_tokens)::BIGINT, SUM(cost_nanos)::BIGINT,
           SUM(cost_avoided_nanos)::BIGINT
    FROM events
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;

INSERT INTO rollup_daily_user
    SELECT (ts_ms / 86400000) * 86400000, team, consumer_group, COALESCE(user_id, ''),
           COUNT(*), SUM(input_tokens)::BIGINT, SUM(cached_input_tokens)::BIGINT,
           SUM(cache_write_tokens)::BIGINT, SUM(output_tokens)::BIGINT,
           SUM(cost_nanos)::BIGINT, SUM(cost_avoided_nanos)::BIGINT
    FROM events
    GROUP BY 1, 2, 3, 4;

INSERT INTO rollup_hourly_coarse
    SELECT hour_ms, team, consumer_group, provider, lane, model_served, api, outcome,
           cache, SUM(requests)::BIGINT, SUM(input_tokens)::BIGINT,
           SUM(cached_input_tokens)::BIGINT, SUM(cache_write_tokens)::BIGINT,
           SUM(output_tokens)::BIGINT, SUM(cost_nanos)::BIGINT,
           SUM(cost_avoided_nanos)::BIGINT
    FROM rollup_hourly
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

INSERT INTO rollup_daily_coarse
    SELECT (ts_ms / 86400000) * 86400000, team, consumer_group, COALESCE(provider, ''),
           COALESCE(lane, ''), model_served, api, outcome, cache, premium,
           premium_approved, COUNT(*), SUM(input_tokens)::BIGINT,
           SUM(cached_input_tokens)::BIGINT, SUM(cache_write_tokens)::BIGINT,
           SUM(output_tokens)::BIGINT, SUM(cost_nanos)::BIGINT,
           SUM(cost_avoided_nanos)::BIGINT
    FROM events
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;

-- Dashboard and API access tokens, SHA-256 only. role: admin | finance | team (team
-- tokens carry their team). Revoked tokens stay (revoked_ms set) as a record of who
-- had access and until when.
CREATE TABLE api_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT   NOT NULL,
    role        TEXT   NOT NULL,
    team        TEXT,
    sha256      TEXT   NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);
