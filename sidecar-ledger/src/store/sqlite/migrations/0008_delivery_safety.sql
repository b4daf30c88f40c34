-- Schema version 8: leased credit is an authorisation hold, and the events an Envoy
-- had to drop are recorded.
--
-- An instance closes a lease it no longer uses and reports the credit it never
-- reserved (unused_nanos). Until the lease's events have arrived, what it may have
-- spent beyond them stays held, charged to the team:
--   closed lease:                 granted - unused - spent   (at least 0)
--   expired, never closed:        granted - spent            (its instance vanished)
-- settled_ms is set once that is 0 (events caught up) or an operator resolved the
-- hold (resolved_by, resolution); settled leases are never read again for holds.
-- Leases that expired before this version returned their credit under the old rule:
-- they start settled.
ALTER TABLE leases ADD COLUMN unused_nanos INTEGER;
ALTER TABLE leases ADD COLUMN closed_ms INTEGER;
ALTER TABLE leases ADD COLUMN settled_ms INTEGER;
ALTER TABLE leases ADD COLUMN resolved_by TEXT;
ALTER TABLE leases ADD COLUMN resolution TEXT;
UPDATE leases SET settled_ms = expires_ms
    WHERE expires_ms <= CAST(strftime('%s', 'now') AS INTEGER) * 1000;
CREATE INDEX leases_unsettled ON leases (team) WHERE settled_ms IS NULL;

-- Events an Envoy's flusher had to drop (its buffer was full while the ledger was
-- unreachable), as it reported them afterwards: the numbers are short by these.
-- One row per flusher and first drop; a retried report raises count and last_ms.
CREATE TABLE delivery_gaps (
    instance    TEXT    NOT NULL,
    first_ms    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    dropped     INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (instance, first_ms)
);
CREATE INDEX delivery_gaps_last ON delivery_gaps (last_ms);
