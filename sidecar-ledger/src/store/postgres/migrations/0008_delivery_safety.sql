-- PostgreSQL schema version 8: leased credit is an authorisation hold, and dropped
-- events are recorded (see the SQLite migration of the same number for the rules).
ALTER TABLE leases ADD COLUMN unused_nanos BIGINT;
ALTER TABLE leases ADD COLUMN closed_ms BIGINT;
ALTER TABLE leases ADD COLUMN settled_ms BIGINT;
ALTER TABLE leases ADD COLUMN resolved_by TEXT COLLATE "C";
ALTER TABLE leases ADD COLUMN resolution TEXT COLLATE "C";
UPDATE leases SET settled_ms = expires_ms
    WHERE expires_ms <= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT;
CREATE INDEX leases_unsettled ON leases (team) WHERE settled_ms IS NULL;

-- Events an Envoy's flusher had to drop (see the SQLite migration of this number).
CREATE TABLE delivery_gaps (
    instance    TEXT COLLATE "C" NOT NULL,
    first_ms    BIGINT NOT NULL,
    last_ms     BIGINT NOT NULL,
    dropped     BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (instance, first_ms)
);
CREATE INDEX delivery_gaps_last ON delivery_gaps (last_ms);
