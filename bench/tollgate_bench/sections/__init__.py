"""The measured sections of the report, one module each: filter (a. filter overhead),
profile (a. where Envoy's CPU goes), memory (d. Envoy memory with a full cache),
ingest (b. ledger ingest), postgres (the PostgreSQL side of b and c), queries (c. spend
and dashboard queries on a large ledger, and the ledger's memory). Each writes its
figures into the run's results dict; report.py renders them."""
