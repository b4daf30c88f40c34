"""Section b, ledger ingest: events/s through `POST /v1/events` into a fresh ledger per
run, by event-id kind, batch size and number of senders, on SQLite (and, with the
`postgres` section, on PostgreSQL), with the CPU each side used."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..accounting import machine_busy_s, postgres_cpu_s, proc_cpu_s
from ..load import HOUR_MS, EventFactory, ingest
from ..log import log
from ..processes import Procs
from . import postgres


def plan(args) -> list[tuple]:
    """(store, ids, batch, seconds, senders) of every SQLite run, in order."""
    # The filter's random ids at its batch size (500) and around it, a longer run to show
    # the slowdown as the table grows, and time-ordered ids for comparison (and to size
    # section c's load).
    runs = [("sqlite", "random", b, args.ingest_seconds) for b in args.batch_sizes if b != 1000]
    runs += [("sqlite", "random", 1000, args.ingest_seconds * 2), ("sqlite", "ordered", 1000, args.ingest_seconds)]
    # The senders above share group commits as they arrive; with twice as many, one
    # group is written while the next one's batches are being received and parsed (a
    # mesh has one sender per Envoy).
    runs = [r + (args.senders,) for r in runs]
    runs.append(("sqlite", "ordered", 1000, args.ingest_seconds, 2 * args.senders))
    if args.ingest_ids != "all":
        runs = [r for r in runs if r[1] == args.ingest_ids]
    return runs


def run(args, work: Path, procs: Procs, results: dict) -> None:
    now = int(time.time() * 1000)
    out = []
    factory = EventFactory()
    ordered = EventFactory(ordered_ids=True)
    runs = plan(args)
    pg = None
    pg_error = None
    if "postgres" in args.sections:
        pg, pg_runs, pg_error = postgres.start_for_ingest(args)
        runs += pg_runs
    db_no = 0
    try:
        for rnd in range(args.rounds):
            for store, ids, batch, secs, senders in runs:
                try:
                    r = ingest_run(args, work, procs, factory, ordered, pg, store, ids, batch, secs, now, db_no,
                                   senders)
                except Exception as e:  # noqa: BLE001
                    if store != "postgres":
                        raise
                    pg_error = f"PostgreSQL ingest failed: {e}"
                    log(pg_error)
                    runs = [r for r in runs if r[0] != "postgres"]
                    break
                db_no += 1
                r["round"] = rnd + 1
                out.append(r)
    finally:
        if pg is not None:
            pg.stop()
    results["ingest"] = {"runs": out, "senders": args.senders, "postgres_error": pg_error}


def ingest_run(args, work, procs, factory, ordered, pg, store, ids, batch, secs, now, db_no, senders) -> dict:
    """One run: a fresh ledger (and database), loaded for `secs`; its rate, latency and CPU."""
    name = f"ledger-b-{db_no}"
    data = work / name
    extra = []
    if store == "postgres":
        extra = ["--database-url", postgres.database_url(pg, db_no)]
    addr = procs.start_ledger(name, work, data, extra=extra)
    pid = procs.pid(name)
    try:
        cpu0 = proc_cpu_s(pid)
        pg0 = postgres_cpu_s(pg) if store == "postgres" else 0.0
        busy0 = machine_busy_s()
        me0 = time.process_time()
        r = ingest(addr, ordered if ids == "ordered" else factory, total=10**9, batch=batch,
                   senders=senders, t_start_ms=now - HOUR_MS, span_ms=HOUR_MS * 10**9 // 200_000,
                   time_budget_s=secs)
        r["ledger_cpu_s"] = round(proc_cpu_s(pid) - cpu0, 2)
        r["db_cpu_s"] = round(postgres_cpu_s(pg) - pg0, 2) if store == "postgres" else 0.0
        r["loader_cpu_s"] = round(time.process_time() - me0, 2)
        busy = machine_busy_s() - busy0
        r["machine_busy_s"] = round(busy, 2)
        r["foreign_cpu_s"] = round(max(0.0, busy - r["ledger_cpu_s"] - r["db_cpu_s"] - r["loader_cpu_s"]), 2)
        r["batch"] = batch
        r["senders"] = senders
        r["ids"] = ids
        r["store"] = store
        log(f"b. {store:8s} {ids:7s} ids, batch {batch:5d}, {senders} senders: {r['events_per_s']:9,.0f} events/s "
            f"(first 10% {r.get('events_per_s_first10pct', 0):,.0f}/s, last 10% {r.get('events_per_s_last10pct', 0):,.0f}/s; "
            f"batch p50 {r['batch_p50_ms']:.1f} ms), ledger CPU {r['ledger_cpu_s']} s, "
            + (f"PostgreSQL CPU {r['db_cpu_s']} s, " if store == "postgres" else "")
            + f"loader CPU {r['loader_cpu_s']} s, other {r['foreign_cpu_s']} s in {r['elapsed_s']} s")
        return r
    finally:
        procs.stop(name)
        shutil.rmtree(data, ignore_errors=True)
