-- Schema version 6: events say whether a wallet check stood behind them.
--
-- wallet_unchecked = 1: wallet enforcement was on, the ledger could not be reached for
-- credit, and the consumer group fails open (`on_ledger_unavailable: open`), so the
-- request went upstream without a reservation. Events stored before are 0.
ALTER TABLE events ADD COLUMN wallet_unchecked INTEGER NOT NULL DEFAULT 0;
