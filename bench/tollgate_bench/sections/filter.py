"""Section a, filter overhead: plain Envoy, two floor filters and the Tollgate variants
(miss, miss with enforcement, miss with a cache store, hit), all on the same simulator
and ledger, driven by wrk in interleaved rounds, each run followed by a short one at a
single connection (the latency one client sees, without queueing behind the others);
then each Envoy's RSS and Tollgate's counters, and (with the `profile` section) where
Envoy's CPU goes."""

from __future__ import annotations

import time
from pathlib import Path

import requests
import yaml

from ..accounting import rss_kib
from ..chat_request import TEAM_KEY
from ..envoy import Upstreams, config_variant, envoy_stats, floor_bootstrap, plain_bootstrap
from ..log import log
from ..processes import Procs, create_admin_token, render_envoy, wrk
from . import profile

BASELINES = ("plain", "floor", "floor_body")  # Envoys without Tollgate: always measured


def ready_check(addr: str, body: str, *, expect_hit: bool | None) -> requests.Response:
    """Three requests (distinct ones when the body has a `__N__` slot) must succeed; the
    last one must (not) be a cache hit."""
    url = f"http://{addr}/v1/chat/completions"
    hdr = {"Authorization": f"Bearer {TEAM_KEY}", "Content-Type": "application/json"}
    last = None
    for i in range(3):
        data = body.replace("__N__", f"check-{time.time_ns()}-{i}")
        last = requests.post(url, data=data, headers=hdr, timeout=10)
        if last.status_code != 200:
            raise RuntimeError(f"{addr}: status {last.status_code}: {last.text[:300]}")
    cache = last.headers.get("x-tollgate-cache")
    if expect_hit is True and cache != "hit":
        raise RuntimeError(f"{addr}: expected a cache hit, got x-tollgate-cache={cache!r}")
    if expect_hit is False and cache == "hit":
        raise RuntimeError(f"{addr}: cache should be off, got a hit")
    return last


def error_sample(addr: str, body: str) -> dict:
    """One request like the run's (a distinct body when it has a `__N__` slot): its status
    and the start of its body, to say what a run's non-2xx answers were."""
    data = body.replace("__N__", f"sample-{time.time_ns()}")
    hdr = {"Authorization": f"Bearer {TEAM_KEY}", "Content-Type": "application/json"}
    r = requests.post(f"http://{addr}/v1/chat/completions", data=data, headers=hdr, timeout=10)
    return {"status": r.status_code, "body": r.text[:300]}


def variants(args, up: Upstreams) -> list[tuple]:
    """(name, label, Tollgate config doc or None, body file, unique, expect_hit) of every
    variant this run measures, in the order they are interleaved."""
    base, fixed, uniq = up.base, up.fixed_body, up.unique_body
    out = [
        ("plain", "plain Envoy (router only, no wasm)", None, fixed, False, None),
        ("floor", "plain Envoy + a trivial wasm filter (the floor)", None, fixed, False, None),
        ("floor_body", "plain Envoy + a wasm filter making only the host calls a miss needs (both bodies buffered and read, 3+3 headers set)", None, fixed, False, None),
        ("miss", "Tollgate miss: cache off, enforcement off", config_variant(base, cache=False, enforcement=False), fixed, False, False),
        ("miss_enf", "Tollgate miss: cache off, wallet enforcement on", config_variant(base, cache=False, enforcement=True), fixed, False, False),
        ("miss_store", "Tollgate miss: cache on, distinct body per request (lookup + store), enforcement on", config_variant(base, cache=True, enforcement=True), uniq, True, False),
        ("hit", "Tollgate hit: cache on, same body, enforcement on", config_variant(base, cache=True, enforcement=True), fixed, False, True),
    ]
    if args.only_variants:
        keep = set(args.only_variants.split(","))
        out = [v for v in out if v[0] in keep or v[0] in BASELINES]
    return out


def start_envoys(args, work: Path, procs: Procs, up: Upstreams, measured: list[tuple]) -> dict[str, tuple[str, str]]:
    """One Envoy per variant, named `envoy-<variant>`; returns {variant: (listener, admin)}."""
    targets = {}
    rendered_base = None
    for name, label, doc, *_ in measured:
        if doc is None:
            continue
        cfg = work / f"tollgate-{name}.yaml"
        cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        boot = work / f"envoy-{name}.yaml"
        render_envoy(cfg, boot, simulator=up.simulator, ledger=up.ledger)
        rendered_base = rendered_base or yaml.safe_load(boot.read_text())
        targets[name] = procs.start_envoy(f"envoy-{name}", boot, work, concurrency=args.envoy_concurrency)
    if rendered_base is None:  # plain only: render just to derive the bootstrap
        boot = work / "envoy-render.yaml"
        render_envoy(Path(args.config), boot, simulator=up.simulator, ledger=up.ledger)
        rendered_base = yaml.safe_load(boot.read_text())
    plain = work / "envoy-plain.yaml"
    plain.write_text(yaml.safe_dump(plain_bootstrap(rendered_base), sort_keys=False))
    targets["plain"] = procs.start_envoy("envoy-plain", plain, work, concurrency=args.envoy_concurrency)
    for name, buffer_bodies in (("floor", False), ("floor_body", True)):
        boot = work / f"envoy-{name}.yaml"
        boot.write_text(yaml.safe_dump(floor_bootstrap(rendered_base, buffer_bodies=buffer_bodies), sort_keys=False))
        targets[name] = procs.start_envoy(f"envoy-{name}", boot, work, concurrency=args.envoy_concurrency)
    return targets


def run(args, work: Path, procs: Procs, up: Upstreams, results: dict) -> None:
    results["request_bytes"] = len(up.fixed_body.read_bytes())
    measured = variants(args, up)
    targets = start_envoys(args, work, procs, up, measured)

    for name, label, doc, body, unique, expect_hit in measured:
        last = ready_check(targets[name][0], body.read_text(), expect_hit=expect_hit)
        if name.startswith("floor") and last.headers.get("x-floor-saw-key") != "1":
            raise RuntimeError(f"the {name} filter did not run (no x-floor-saw-key: 1)")

    runs: dict[str, list[dict]] = {v[0]: [] for v in measured}
    runs_1c: dict[str, list[dict]] = {v[0]: [] for v in measured}
    rss_after: dict[str, dict] = {}
    for rnd in range(args.rounds):
        for name, label, doc, body, unique, expect_hit in measured:
            addr = targets[name][0]
            # Warm-up (connections, JIT, lease), not recorded.
            wrk(addr, body, duration=args.warmup, threads=args.wrk_threads, conns=args.conns,
                unique=unique, tag=f"w{rnd}{name}", work=work)
            r = wrk(addr, body, duration=args.duration, threads=args.wrk_threads, conns=args.conns,
                    unique=unique, tag=f"r{rnd}{name}", procs=procs, work=work)
            r["envoy_cpu_us_per_req"] = r["cpu_s"].get(f"envoy-{name}", 0.0) / max(r["requests"], 1) * 1e6
            if r["errors"]:
                r["error_sample"] = error_sample(addr, body.read_text())
            runs[name].append(r)
            log(f"a. round {rnd + 1} {name:10s} {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:.2f} ms  "
                f"p99 {r['p99_us'] / 1000:.2f} ms  errors {r['errors']}  envoy {r['envoy_cpu_us_per_req']:.0f} µs CPU/req  "
                f"foreign CPU {r['foreign_cpu_s']} s" + (f"  sample {r['error_sample']}" if r["errors"] else ""))
            if args.one_conn_duration > 0:
                # The same Envoy, warm from the run above, at one connection: one request in
                # flight, so the latency is the path's own and not a queue's.
                r1 = wrk(addr, body, duration=args.one_conn_duration, threads=1, conns=1,
                         unique=unique, tag=f"c{rnd}{name}", procs=procs, work=work)
                runs_1c[name].append(r1)
                log(f"a. round {rnd + 1} {name:10s} 1 conn: p50 {r1['p50_us'] / 1000:.3f} ms  "
                    f"p99 {r1['p99_us'] / 1000:.3f} ms  {r1['rps']:.0f} req/s  errors {r1['errors']}")
    for name, *_ in measured:
        rss_after[name] = rss_kib(procs.pid(f"envoy-{name}"))
    stats = {name: envoy_stats(targets[name][1]) for name in targets if name not in BASELINES}
    prof = {}
    if "profile" in args.sections:
        prof = profile.run(args, work, procs, targets,
                           [(v[0], v[3], v[4]) for v in measured
                            if v[0] in ("plain", "floor_body", "miss", "miss_store", "hit")])
    results["filter"] = {
        "variants": [{"name": v[0], "label": v[1]} for v in measured],
        "runs": runs,
        "runs_one_conn": runs_1c if args.one_conn_duration > 0 else {},
        "one_conn_duration_s": args.one_conn_duration,
        "rss_after_kib": rss_after,
        "tollgate_stats": stats,
        "wrk": {"threads": args.wrk_threads, "conns": args.conns, "duration_s": args.duration,
                "warmup_s": args.warmup, "rounds": args.rounds},
        "envoy_concurrency": args.envoy_concurrency,
        "profile": prof,
    }
    auth = {"Authorization": f"Bearer {create_admin_token(work / 'ledger-a', [])}"}  # reads need a token
    ledger_total = requests.get(f"http://{up.ledger}/v1/spend", params={"from": "0"}, headers=auth,
                                timeout=30).json()
    results["filter"]["ledger_requests_recorded"] = ledger_total["total"]["requests"]

    for name, *_ in measured:
        procs.stop(f"envoy-{name}")
