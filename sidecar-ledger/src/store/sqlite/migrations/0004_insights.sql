-- Schema version 4: what the leaders' dashboard reads.
--
-- * rollup_daily: daily sums per (team, consumer group, workflow, lane, model, cache,
--   premium flags), without the user, api and outcome of rollup_hourly, so that
--   organisation-wide series over months read a few thousand rows per day at most,
--   and premium share / premium drift (premium lanes used by workflows not approved
--   for them) can be answered at all.
-- * rollup_daily_team: the same without consumer group and workflow (organisation-wide
--   charts over long ranges).
-- * rollup_daily_user: daily sums per user, for "top users".
-- * api_tokens: dashboard and API access tokens, stored as SHA-256 hashes only.
--
-- Both rollups are maintained in the ingest transaction, like rollup_hourly, and
-- filled here from the events already stored. Absent optional attributes are ''.

CREATE TABLE rollup_daily (
    day_ms              INTEGER NOT NULL,
    team                TEXT    NOT NULL,
    consumer_group      TEXT    NOT NULL,
    workflow            TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    lane                TEXT    NOT NULL,
    model_served        TEXT    NOT NULL,
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
    PRIMARY KEY (day_ms, team, consumer_group, workflow, provider, lane, model_served,
                 cache, premium, premium_approved)
) WITHOUT ROWID;
CREATE INDEX rollup_daily_team_day ON rollup_daily (team, day_ms);

-- The same without consumer group and workflow: what organisation-wide charts over
-- long ranges read (a few rows per team, lane and day).
CREATE TABLE rollup_daily_team (
    day_ms              INTEGER NOT NULL,
    team                TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    lane                TEXT    NOT NULL,
    model_served        TEXT    NOT NULL,
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
    PRIMARY KEY (day_ms, team, provider, lane, model_served, cache, premium,
                 premium_approved)
) WITHOUT ROWID;
CREATE INDEX rollup_daily_team_team_day ON rollup_daily_team (team, day_ms);

CREATE TABLE rollup_daily_user (
    day_ms              INTEGER NOT NULL,
    team                TEXT    NOT NULL,
    consumer_group      TEXT    NOT NULL,
    user_id             TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    cost_avoided_nanos  INTEGER NOT NULL,
    PRIMARY KEY (day_ms, team, consumer_group, user_id)
) WITHOUT ROWID;
CREATE INDEX rollup_daily_user_team_day ON rollup_daily_user (team, day_ms);

INSERT INTO rollup_daily
    SELECT (ts_ms / 86400000) * 86400000, team, consumer_group, COALESCE(workflow, ''),
           COALESCE(provider, ''), COALESCE(lane, ''), model_served, cache, premium,
           premium_approved, COUNT(*), SUM(input_tokens), SUM(cached_input_tokens),
           SUM(cache_write_tokens), SUM(output_tokens), SUM(cost_nanos),
           SUM(cost_avoided_nanos)
    FROM events
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;

INSERT INTO rollup_daily_team
    SELECT day_ms, team, provider, lane, model_served, cache, premium, premium_approved,
           SUM(requests), SUM(input_tokens), SUM(cached_input_tokens),
           SUM(cache_write_tokens), SUM(output_tokens), SUM(cost_nanos),
           SUM(cost_avoided_nanos)
    FROM rollup_daily
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO rollup_daily_user
    SELECT (ts_ms / 86400000) * 86400000, team, consumer_group, COALESCE(user_id, ''),
           COUNT(*), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens),
           SUM(output_tokens), SUM(cost_nanos), SUM(cost_avoided_nanos)
    FROM events
    GROUP BY 1, 2, 3, 4;

-- role: admin | finance | team (team tokens carry their team). Revoked tokens are
-- kept (revoked_ms set) so the list shows who had access and until when.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    team        TEXT,
    sha256      TEXT    NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
