"""Section c, queries on a large ledger: millions of cost events over --days loaded
into a fresh ledger (SQLite and/or PostgreSQL), then the latency of `GET /v1/spend` and
of the dashboard's `/v1/insights/*` requests, and the ledger's memory after each."""

from __future__ import annotations

import shutil
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from ..accounting import OTHER_THREADS, machine_busy_s, proc_cpu_s, rss_kib
from ..load import DAY_MS, HOUR_MS, MODELS, TEAMS, USERS_PER_TEAM, WORKFLOWS, EventFactory, ingest, percentile
from ..log import log
from ..page import time_views
from ..processes import Procs, create_admin_token
from ..stores import QUERY_STORES


def timed_get(session: requests.Session, url: str, params: dict, *, samples: int, budget_s: float,
              headers: dict | None = None) -> dict:
    """2 unrecorded GETs, then `samples` timed ones (at least 5, fewer if `budget_s` runs
    out): p50/p95/max ms, rows and bytes of the last answer."""
    times, rows, size = [], None, 0
    for _ in range(2):  # warm-up
        r = session.get(url, params=params, headers=headers, timeout=120)
        r.raise_for_status()
    deadline = time.monotonic() + budget_s
    while len(times) < samples and (len(times) < 5 or time.monotonic() < deadline):
        t = time.monotonic()
        r = session.get(url, params=params, headers=headers, timeout=120)
        times.append(time.monotonic() - t)
        r.raise_for_status()
        size = len(r.content)
        body = r.json()
        rows = len(body.get("rows", [])) if isinstance(body, dict) else len(body)
    return {"samples": len(times), "p50_ms": percentile(times, 50) * 1000,
            "p95_ms": percentile(times, 95) * 1000, "max_ms": max(times) * 1000, "rows": rows,
            "bytes": size}


def day_str(ms: int) -> str:
    """The UTC day of a time in ms, as YYYY-MM-DD."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")


def insights_queries(to_ms: int) -> list[tuple[str, str, dict]]:
    """What the dashboard page requests (dashboard.js), for the organisation view (an
    admin token sees every team) and for one team, with its default 30-day range and
    the whole 60 days. `to_ms` is the end of the data: the page's "today"."""
    end = (to_ms - 1) // DAY_MS * DAY_MS + DAY_MS  # the page's todayStart() + 1 day
    last = lambda days: {"from": day_str(end - days * DAY_MS), "to": day_str(end)}  # noqa: E731
    week = {"a_from": day_str(end - 15 * DAY_MS), "a_to": day_str(end - 8 * DAY_MS),
            "b_from": day_str(end - 8 * DAY_MS), "b_to": day_str(end - DAY_MS)}
    first_of_month = datetime.fromtimestamp((end - DAY_MS) / 1000, timezone.utc).replace(day=1)
    mtd = {"from": first_of_month.strftime("%Y-%m-%d"), "to": day_str(end)}
    four = {"a_from": day_str(end - 57 * DAY_MS), "a_to": day_str(end - 29 * DAY_MS),
            "b_from": day_str(end - 29 * DAY_MS), "b_to": day_str(end - DAY_MS)}
    return [
        ("session", "/v1/session", {}),
        ("teams, 30 days", "/v1/insights/teams", last(30)),
        ("budget, org, 30 days", "/v1/insights/budget", last(30)),
        ("budget, team_07, 30 days", "/v1/insights/budget", {"team": "team_07", **last(30)}),
        ("mix by lane, org, 30 days", "/v1/insights/mix", {"by": "lane", "bucket": "day", **last(30)}),
        ("mix by model, org, 60 days", "/v1/insights/mix", {"by": "model", "bucket": "day", **last(60)}),
        ("cache, org, 30 days", "/v1/insights/cache", {"bucket": "day", **last(30)}),
        ("premium, org, 60 days", "/v1/insights/premium", {"bucket": "day", **last(60)}),
        ("top users, org, 30 days", "/v1/insights/top", {"by": "user", "limit": 10, **last(30)}),
        ("top workflows, org, 30 days", "/v1/insights/top", {"by": "workflow", "limit": 10, **last(30)}),
        ("drivers, org, 7 days vs 7", "/v1/insights/drivers", week),
        ("drivers, team_07, 28 days vs 28", "/v1/insights/drivers", {"team": "team_07", **four}),
        ("budget, org, month to date", "/v1/insights/budget", mtd),
        ("wallet, team_07, 30 days", "/v1/insights/wallet", {"team": "team_07", **last(30)}),
        ("live, org (polled)", "/v1/insights/live", {}),
        ("live, team_07 (polled)", "/v1/insights/live", {"team": "team_07"}),
        ("recommendations, org", "/v1/insights/recommendations", {}),
        ("recommendations, team_07", "/v1/insights/recommendations", {"team": "team_07"}),
        ("delivery banner", "/v1/insights/delivery", {}),
        ("alerts, org, latest 50", "/v1/alerts", {"limit": 50}),
        ("allocation requests, pending", "/v1/allocation-requests", {"status": "pending"}),
        ("budget changes, pending", "/v1/budget-changes", {"status": "pending"}),
    ]


def run(args, work: Path, procs: Procs, results: dict) -> None:
    stores = ["sqlite", "postgres"] if args.queries_store == "both" else [args.queries_store]
    results["queries"], results["ledger_memory"] = [], []
    for store in stores:
        data = work / f"ledger-c-{store}"
        db = QUERY_STORES[store](data)
        try:
            queries_run(args, work, procs, results, db, data)
        finally:
            procs.stop(f"ledger-c-{store}")  # before its database server
            db.stop()
            shutil.rmtree(data, ignore_errors=True)


def queries_run(args, work: Path, procs: Procs, results: dict, db, data: Path) -> None:
    """Section c on one store: load, counts and size, timed queries, CPU and RSS."""
    # How many events fit the time budget, from the batch-1000 rate of section b.
    rates = [r["events_per_s"] for r in results.get("ingest", {}).get("runs", []) if r.get("ids") == "ordered" and r.get("store") == db.name]
    rate = statistics.median(rates) if rates else 40_000
    target = args.events or int(min(10_000_000, rate * 0.9 * args.big_ingest_seconds) // 100_000 * 100_000)
    target = max(target, 100_000)
    days = args.days
    end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    start_ms = end_ms - days * DAY_MS
    name = f"ledger-c-{db.name}"
    addr = procs.start_ledger(name, work, data, extra=db.ledger_args())
    pid = procs.pid(name)
    log(f"c. {db.label}: ingesting {target:,} events over {days} days (batch 1000, time-ordered ids; at most {args.big_ingest_seconds * 1.3:.0f} s)")
    me0 = time.process_time()
    cpu0 = proc_cpu_s(pid)
    db0 = db.cpu_s()
    busy0 = machine_busy_s()
    ing = ingest(addr, EventFactory(ordered_ids=True), total=target, batch=1000, senders=args.senders, t_start_ms=start_ms,
                 span_ms=days * DAY_MS, time_budget_s=args.big_ingest_seconds * 1.3, progress="c. ingest")
    busy = machine_busy_s() - busy0
    ing["ledger_cpu_s"] = round(proc_cpu_s(pid) - cpu0, 1)
    ing["db_cpu_s"] = round(db.cpu_s() - db0, 1)
    ing["loader_cpu_s"] = round(time.process_time() - me0, 1)
    ing["foreign_cpu_s"] = round(max(0.0, busy - ing["ledger_cpu_s"] - ing["db_cpu_s"] - ing["loader_cpu_s"]), 1)
    log(f"c. ingested {ing['events']:,} events in {ing['elapsed_s']} s ({ing['events_per_s']:,.0f}/s); ledger CPU "
        f"{ing['ledger_cpu_s']} s, " + (f"PostgreSQL CPU {ing['db_cpu_s']} s, " if db.name == "postgres" else "") + f"loader CPU {ing['loader_cpu_s']} s, "
        f"other {ing['foreign_cpu_s']} s")
    rss_after_ingest = rss_kib(pid)
    # Reads need a token: an admin one, created the way an operator does.
    auth = {"Authorization": f"Bearer {create_admin_token(data, db.ledger_args())}"}
    counts = db.counts(addr, auth)
    db_bytes = db.db_bytes()
    last = counts["last_ms"] or end_ms
    first = counts["first_ms"] or start_ms
    to = last // HOUR_MS * HOUR_MS + HOUR_MS
    url = f"http://{addr}/v1/spend"
    s = requests.Session()
    s.headers.update(auth)
    queries = [
        ("group_by=team,model, whole range", {"group_by": "team,model", "from": first, "to": to}),
        ("group_by=day, whole range", {"group_by": "day", "from": first, "to": to}),
        ("group_by=team,model, last 7 days", {"group_by": "team,model", "from": to - 7 * DAY_MS, "to": to}),
        ("group_by=team,model, last 24 h", {"group_by": "team,model", "from": to - DAY_MS, "to": to}),
        ("group_by=model&team=team_07, whole range", {"group_by": "model", "team": "team_07", "from": first, "to": to}),
        ("group_by=user, last 7 days", {"group_by": "user", "from": to - 7 * DAY_MS, "to": to}),
        ("group_by=outcome,provider, whole range", {"group_by": "outcome,provider", "from": first, "to": to}),
        ("group_by=hour&team=team_07, last 7 days", {"group_by": "hour", "team": "team_07", "from": to - 7 * DAY_MS, "to": to}),
        ("group_by=user,model, last 7 days (fine rollup)", {"group_by": "user,model", "from": to - 7 * DAY_MS, "to": to}),
    ]
    maintenance_before = db.maintenance()
    busy0, cpu0, db0, me0, t0 = machine_busy_s(), proc_cpu_s(pid), db.cpu_s(), time.process_time(), time.monotonic()
    qout = []
    for label, params in queries:
        r = timed_get(s, url, params, samples=args.query_samples, budget_s=args.query_seconds)
        r["query"] = label
        r["params"] = "&".join(f"{k}={v}" for k, v in params.items())
        qout.append(r)
        log(f"c. {label:45s} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  ({r['samples']} samples, {r['rows']} rows)")

    # The dashboard's endpoints, with the same admin token.
    iout = []
    for label, path, params in insights_queries(to):
        r = timed_get(s, f"http://{addr}{path}", params, samples=args.query_samples, budget_s=args.query_seconds,
                      headers=auth)
        r["query"] = label
        r["path"] = path
        r["params"] = "&".join(f"{k}={v}" for k, v in params.items())
        iout.append(r)
        log(f"c. {label:45s} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  ({r['samples']} samples, {r['bytes']:,} bytes)")
    s.close()
    busy, elapsed = machine_busy_s() - busy0, time.monotonic() - t0
    qcpu = {"elapsed_s": round(elapsed, 1), "ledger_cpu_s": round(proc_cpu_s(pid) - cpu0, 1),
            "db_cpu_s": round(db.cpu_s() - db0, 1), "client_cpu_s": round(time.process_time() - me0, 1),
            "compilers": round(OTHER_THREADS.mean(t0, t0 + elapsed), 2)}
    qcpu["foreign_cpu_s"] = round(max(0.0, busy - qcpu["ledger_cpu_s"] - qcpu["db_cpu_s"] - qcpu["client_cpu_s"]), 1)
    qcpu["maintenance_before"], qcpu["maintenance_after"] = maintenance_before, db.maintenance()
    if maintenance_before:
        log(f"c. autovacuum before the queries: {maintenance_before}; after: {qcpu['maintenance_after']}")
    rss_after_queries = rss_kib(pid)
    # The page itself, in Chromium: its first meaningful paint and every card drawn.
    page = time_views(addr, auth["Authorization"].split()[1], work, team="team_07",
                      samples=args.page_samples) if args.page_samples else []
    results["queries"].append({
        "store": db.name, "store_label": db.label,
        "ingest": ing, "target_events": target, "days": days, "counts": counts, "db_bytes": db_bytes,
        "queries": qout, "insights": iout, "page": page, "query_cpu": qcpu, "teams": TEAMS, "users": TEAMS * USERS_PER_TEAM,
        "models": len(MODELS), "workflows": len(WORKFLOWS),
    })
    results["ledger_memory"].append({"store_label": db.label, "after_ingest_kib": rss_after_ingest,
                                      "after_queries_kib": rss_after_queries, "events": counts["events"]})
    log(f"c. ledger RSS after ingest {rss_after_ingest['VmRSS'] / 1024:.0f} MiB (peak {rss_after_ingest['VmHWM'] / 1024:.0f} MiB); "
        f"{counts['rollup_rows']:,} rollup rows; database {db_bytes / 2**30:.2f} GiB; while querying: ledger CPU "
        f"{qcpu['ledger_cpu_s']} s, " + (f"PostgreSQL CPU {qcpu['db_cpu_s']} s, " if db.name == "postgres" else "")
        + f"client CPU {qcpu['client_cpu_s']} s, other {qcpu['foreign_cpu_s']} s in {qcpu['elapsed_s']} s")
