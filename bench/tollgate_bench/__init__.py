"""The benchmark behind `make bench` (bench/run.py is its command line).

Modules, one job each:
  log           timestamped progress lines
  accounting    /proc accounting: CPU seconds of a process, of the machine and of a
                PostgreSQL server; RSS; the sampler of other runnable threads
  processes     every process a run starts and stops by PID: simulator, ledgers, Envoys
                (through tests/harness/stack.py), wrk, perf, PostgreSQL, admin tokens
  chat_request  the chat request the Envoy variants are driven with, and its team key
  envoy         the upstreams every Envoy variant points at, the bootstrap of each
                variant, and a running Envoy's admin counters
  load          the Python load generator for the ledger (cost events posted in batches)
  stores        the two ledger databases section c loads and queries (SQLite, PostgreSQL)
  machine       the machine and version facts the report opens with
  report        the Markdown of the generated block of BENCHMARKS.md
  sections/     one module per measured section (filter, profile, memory, ingest,
                postgres, queries)
"""
