#!/usr/bin/env python3
"""`make bench`: Tollgate's benchmarks, written into BENCHMARKS.md.

Sections (all in one run, side by side, on loopback):
  a. filter overhead: plain Envoy vs Envoy + Tollgate proxying the simulator (wrk),
     and where Envoy's CPU goes (perf, if installed)
  b. ledger ingest: events/s through POST /v1/events into SQLite and PostgreSQL
  c. queries: p50/p95 of GET /v1/spend and of the dashboard's /v1/insights/* endpoints
     on a ledger holding millions of events (SQLite; --queries-store postgres|both)
  d. memory: Envoy RSS with a full response cache; ledger RSS after the big ingest
  e. streams: a 1,000-chunk SSE answer through plain Envoy and Envoy + Tollgate (OpenAI,
     Anthropic, translated): streams/s and CPU per chunk

Only the block between the bench:begin/bench:end markers of BENCHMARKS.md is rewritten.
Every process is started here and stopped here by PID; the temporary directory (data,
logs, bootstraps) is removed at the end unless --keep is given (or the run failed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tollgate_bench.accounting import OTHER_THREADS
from tollgate_bench.envoy import start_upstreams
from tollgate_bench.log import log
from tollgate_bench.machine import machine_info
from tollgate_bench.processes import ROOT, Procs
from tollgate_bench.report import render, write_benchmarks
from tollgate_bench.sections import filter as filter_section
from tollgate_bench.sections import ingest, memory, queries, stream


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="filter,profile,memory,stream,ingest,postgres,queries",
                    help="comma list of: filter, profile (needs filter), memory, ingest, postgres (needs ingest), queries")
    ap.add_argument("--profile-seconds", type=float, default=6)
    ap.add_argument("--memory-fills", type=int, default=3, help="times 2 x max_entries distinct requests are sent")
    ap.add_argument("--config", default=str(ROOT / "examples" / "tollgate.yaml"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=10, help="seconds per measured wrk run")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of unrecorded wrk warm-up before each run")
    ap.add_argument("--conns", type=int, default=16, help="wrk connections")
    ap.add_argument("--one-conn-duration", type=float, default=5,
                    help="section a: seconds of wrk -c1 after each variant's run (0: skip)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--stream-conns", type=int, default=8, help="wrk connections for section e's streams")
    ap.add_argument("--envoy-concurrency", type=int, default=2)
    ap.add_argument("--only-variants", default="", help="e.g. miss,hit (plain always runs)")
    ap.add_argument("--batch-sizes", default="100,500,1000")
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--ingest-ids", choices=["all", "ordered", "random"], default="all",
                    help="section b: only the runs with these event ids")
    ap.add_argument("--ingest-seconds", type=float, default=10)
    ap.add_argument("--events", type=int, default=0, help="events for section c (default: what fits the budget, ≤ 10M)")
    ap.add_argument("--big-ingest-seconds", type=float, default=220, help="planned seconds for section c's load")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--queries-store", choices=["sqlite", "postgres", "both"], default="sqlite",
                    help="section c's ledger database (both: the same load and queries on each, one after the other)")
    ap.add_argument("--query-samples", type=int, default=30)
    ap.add_argument("--query-seconds", type=float, default=15)
    ap.add_argument("--page-samples", type=int, default=5,
                    help="section c: fresh loads of each dashboard view in Chromium (0: skip the page timing)")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--json", default="", help="also write the raw results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = ap.parse_args()
    args.sections = set(args.sections.split(","))
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    if not shutil.which("wrk") and args.sections & {"filter", "memory", "stream"}:
        raise SystemExit("wrk not found: `apt-get install -y wrk` (make bench does this)")

    work = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    procs = Procs()
    results: dict = {"machine": machine_info()}
    t0 = time.monotonic()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    OTHER_THREADS.start()
    log(f"work dir {work}; sections {sorted(args.sections)}")
    try:
        if args.sections & {"filter", "memory", "stream"}:
            # Sections a, d and e share one simulator and ledger.
            up = start_upstreams(procs, work, Path(args.config))
            if "filter" in args.sections:
                filter_section.run(args, work, procs, up, results)
            if "memory" in args.sections:
                memory.run(args, work, procs, up, results)
            if "stream" in args.sections:
                stream.run(args, work, procs, up, results)
            procs.stop("ledger")
            procs.stop("simulator")
        if "ingest" in args.sections:
            ingest.run(args, work, procs, results)
        if "queries" in args.sections:
            queries.run(args, work, procs, results)
    except BaseException:
        log(f"failed; logs in {work}")
        args.keep = True
        raise
    finally:
        OTHER_THREADS.stop()
        procs.stop_all()
        results["elapsed_s"] = time.monotonic() - t0
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    write_benchmarks(render(results, ["make", "bench"] if os.environ.get("MAKELEVEL") else sys.argv), Path(args.out))
    log(f"done in {results['elapsed_s'] / 60:.1f} min; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
