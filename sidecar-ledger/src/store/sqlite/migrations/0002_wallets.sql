-- Schema version 2: wallets (hard limits), their ledger of allocations, and the credit
-- leases handed to Envoy instances. Money is integer nanodollars.

ALTER TABLE events ADD COLUMN lease_id INTEGER;

-- One row per team wallet. `allocated_nanos` is the sum of wallet_entries and
-- `spent_nanos` the sum of event costs, both maintained in the transactions that
-- change them so the balance is one row read.
CREATE TABLE wallets (
    team            TEXT    PRIMARY KEY,
    allocated_nanos INTEGER NOT NULL DEFAULT 0,
    spent_nanos     INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL
);

-- Every change to a wallet's allocation: who, when, why. Never updated or deleted.
CREATE TABLE wallet_entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    team            TEXT    NOT NULL REFERENCES wallets (team),
    kind            TEXT    NOT NULL,  -- initial | top_up | correction
    amount_nanos    INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    ts_ms           INTEGER NOT NULL,
    idempotency_key TEXT    UNIQUE
);
CREATE INDEX wallet_entries_team ON wallet_entries (team, id);

-- Credit leased to one Envoy instance for one team. Live while expires_ms is in the
-- future; its unspent part (granted - spent) is held back from other instances.
CREATE TABLE leases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    instance      TEXT    NOT NULL,
    team          TEXT    NOT NULL,
    granted_nanos INTEGER NOT NULL,
    spent_nanos   INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL
);
CREATE INDEX leases_team_live ON leases (team, expires_ms);
CREATE INDEX leases_instance ON leases (instance, team, expires_ms);

-- Wallets for teams that already have events, with their spend so far.
INSERT INTO wallets (team, spent_nanos, created_ms)
    SELECT team, SUM(cost_nanos), MIN(received_ms) FROM events GROUP BY team;
