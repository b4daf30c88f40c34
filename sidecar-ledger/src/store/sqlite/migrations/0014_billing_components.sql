-- Events keep the billing components priced apart from plain token kinds.
--
-- cache_write_1h_tokens: 1-hour prompt-cache writes (cache_write_tokens holds the
--   5-minute ones); web_search_calls and tool_cost_nanos: server-side web searches and
--   their per-call charge (part of cost_nanos); service_tier: the tier that priced the
--   request; priced_by: the price-catalogue entry and rate rule that applied.
-- Events stored before have none of these (0 / NULL).
ALTER TABLE events ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN web_search_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN tool_cost_nanos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN service_tier TEXT;
ALTER TABLE events ADD COLUMN priced_by TEXT;
