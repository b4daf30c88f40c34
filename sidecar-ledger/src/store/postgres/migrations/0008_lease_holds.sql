-- PostgreSQL schema version 8: leased credit is an authorisation hold (see the
-- SQLite migration of the same number for the rule).
ALTER TABLE leases ADD COLUMN unused_nanos BIGINT;
ALTER TABLE leases ADD COLUMN closed_ms BIGINT;
ALTER TABLE leases ADD COLUMN settled_ms BIGINT;
ALTER TABLE leases ADD COLUMN resolved_by TEXT COLLATE "C";
ALTER TABLE leases ADD COLUMN resolution TEXT COLLATE "C";
UPDATE leases SET settled_ms = expires_ms
    WHERE expires_ms <= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT;
CREATE INDEX leases_unsettled ON leases (team) WHERE settled_ms IS NULL;
