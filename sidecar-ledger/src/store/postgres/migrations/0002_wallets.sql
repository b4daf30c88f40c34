-- PostgreSQL schema version 2: wallets (hard limits), their ledger of allocations, and
-- the credit leases handed to Envoy instances. Money is BIGINT nanodollars.
-- Every ledger instance sharing the database serialises grants and spend per team on
-- the team's `wallets` row (SELECT ... FOR UPDATE / UPDATE), never in memory.

ALTER TABLE events ADD COLUMN lease_id BIGINT;

CREATE TABLE wallets (
    team            TEXT COLLATE "C" PRIMARY KEY,
    allocated_nanos BIGINT NOT NULL DEFAULT 0,
    spent_nanos     BIGINT NOT NULL DEFAULT 0,
    created_ms      BIGINT NOT NULL
);

-- Every change to a wallet's allocation: who, when, why. Never updated or deleted.
CREATE TABLE wallet_entries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team            TEXT COLLATE "C" NOT NULL REFERENCES wallets (team),
    kind            TEXT   NOT NULL,  -- initial | top_up | correction
    amount_nanos    BIGINT NOT NULL,
    actor           TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    ts_ms           BIGINT NOT NULL,
    idempotency_key TEXT   UNIQUE
);
CREATE INDEX wallet_entries_team ON wallet_entries (team, id);

-- Credit leased to one Envoy instance for one team. Live while expires_ms is in the
-- future; its unspent part (granted - spent) is held back from other instances.
CREATE TABLE leases (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance      TEXT COLLATE "C" NOT NULL,
    team          TEXT COLLATE "C" NOT NULL,
    granted_nanos BIGINT NOT NULL,
    spent_nanos   BIGINT NOT NULL DEFAULT 0,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL
);
CREATE INDEX leases_team_live ON leases (team, expires_ms);
CREATE INDEX leases_instance ON leases (instance, team, expires_ms);

-- Wallets for teams that already have events, with their spend so far.
INSERT INTO wallets (team, spent_nanos, created_ms)
    SELECT team, SUM(cost_nanos)::BIGINT, MIN(received_ms) FROM events GROUP BY team;
