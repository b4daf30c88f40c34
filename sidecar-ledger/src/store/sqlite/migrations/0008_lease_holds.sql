-- Schema version 8: leased credit is an authorisation hold.
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
