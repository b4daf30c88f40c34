-- Schema version 12: the organisation's reporting time zone, and refusals by team.
--
-- * reporting_calendar: one row, the IANA time zone whose days and months the daily
--   rollups (rollup_daily, rollup_daily_user, rollup_daily_coarse), budget periods,
--   the dashboard and exports use. Every fold reads it in its own transaction;
--   `tollgate-ledger time-zone set` changes it and rebuilds the daily rollups in the
--   same transaction. Existing stores were UTC, so they start there.
-- * events_refused: refused requests (few, however much traffic there is) by team
--   and time, so the dashboard can show refusals by the hard limit without scanning
--   a team's events.
CREATE TABLE reporting_calendar (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    time_zone  TEXT    NOT NULL,
    changed_ms BIGINT  NOT NULL,
    changed_by TEXT    NOT NULL
);
INSERT INTO reporting_calendar (id, time_zone, changed_ms, changed_by) VALUES (1, 'UTC', 0, 'default');

CREATE INDEX events_refused ON events (team, ts_ms) WHERE outcome = 'refused';
