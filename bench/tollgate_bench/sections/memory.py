"""Section d, Envoy memory: RSS of a fresh Tollgate Envoy vs the same Envoy after filling
its response cache with ~4 KiB answers, several times over (the table is fixed-size: RSS
should level off), next to plain Envoy under the same distinct-request load."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import yaml

from ..accounting import rss_kib
import requests

from ..chat_request import TEAM_KEY, write_bodies
from ..envoy import Upstreams, config_variant, downstream_requests, envoy_stats, plain_bootstrap
from ..log import log
from ..processes import Procs, render_envoy, start_wrk, wrk

# Words the simulator answers with (`x-sim-answer-words`, the request's max_tokens the
# same): a ~4 KiB chat completion, so a cache entry holds ~4 KiB (the answer plus its
# key and headers), the size of a few paragraphs of real model output.
ANSWER_WORDS = 560
SIM_HEADERS = {"x-sim-answer-words": str(ANSWER_WORDS)}


def drive(addr: str, admin: str, body: Path, n: int, *, conns: int, tag: str) -> tuple[int, float]:
    """Sends about n distinct requests with wrk and stops it (by PID) once Envoy has
    answered them (wrk itself only stops at the end of -d). Returns (requests, seconds)."""
    start = downstream_requests(admin)
    t0 = time.monotonic()
    p = start_wrk(addr, body, threads=1, conns=conns, seconds=600, unique=True, tag=tag, headers=SIM_HEADERS)
    try:
        while downstream_requests(admin) - start < n:
            if p.poll() is not None or time.monotonic() - t0 > 300:
                raise RuntimeError(f"wrk stopped early or too slow ({downstream_requests(admin) - start} of {n})")
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.wait()
    time.sleep(0.5)
    return downstream_requests(admin) - start, time.monotonic() - t0


def run(args, work: Path, procs: Procs, up: Upstreams, results: dict) -> None:
    doc = config_variant(up.base, cache=True, enforcement=True)
    max_entries = int(doc["cache"]["max_entries"])
    cfg = work / "tollgate-memory.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    boot = work / "envoy-memory.yaml"
    render_envoy(cfg, boot, simulator=up.simulator, ledger=up.ledger)
    plain = work / "envoy-plain-memory.yaml"
    plain.write_text(yaml.safe_dump(plain_bootstrap(yaml.safe_load(boot.read_text())), sort_keys=False))
    fixed, unique = write_bodies(work, max_tokens=ANSWER_WORDS, suffix="-4k")
    out = {"max_entries": max_entries, "max_total_bytes": doc["cache"].get("max_total_bytes"),
           "envoy_concurrency": args.envoy_concurrency, "answer_words": ANSWER_WORDS}
    for name, path, fills in (("plain", plain, 1), ("tollgate", boot, args.memory_fills)):
        addr, admin = procs.start_envoy(f"envoy-mem-{name}", path, work, concurrency=args.envoy_concurrency)
        pid = procs.pid(f"envoy-mem-{name}")
        # A fresh instance that has served a little traffic (one cache entry).
        wrk(addr, fixed, duration=2, threads=1, conns=4, work=work, headers=SIM_HEADERS)
        if name == "tollgate":
            answer = requests.post(f"http://{addr}/v1/chat/completions", data=fixed.read_bytes(), timeout=10,
                                   headers={"Authorization": f"Bearer {TEAM_KEY}",
                                            "Content-Type": "application/json", **SIM_HEADERS})
            if answer.status_code != 200:
                raise RuntimeError(f"memory: status {answer.status_code}: {answer.text[:300]}")
            out["answer_bytes"] = len(answer.content)
        time.sleep(1)
        steps = [{"requests": 0, "kib": rss_kib(pid)}]
        if name == "tollgate":
            steps[0]["stats"] = envoy_stats(admin)
        total = 0
        for i in range(fills):
            # 2 x max_entries distinct requests: with 2-way slots that fills (nearly) every slot.
            n, secs = drive(addr, admin, unique, 2 * max_entries, conns=args.conns, tag=f"mem{name}{i}")
            total += n
            step = {"requests": total, "seconds": round(secs, 1), "kib": rss_kib(pid)}
            if name == "tollgate":
                step["stats"] = envoy_stats(admin)
            steps.append(step)
            held = step.get("stats", {})
            log(f"d. envoy {name}: RSS {steps[0]['kib']['VmRSS'] / 1024:.1f} MiB fresh, "
                f"{step['kib']['VmRSS'] / 1024:.1f} MiB after {total:,} distinct requests"
                + (f"; cache {held.get('wasmcustom.tollgate.cache_bytes', 0):,} bytes, "
                   f"{held.get('wasmcustom.tollgate.cache_stores', 0):,} stores, "
                   f"{held.get('wasmcustom.tollgate.cache_evictions', 0):,} evictions" if held else ""))
        out[name] = steps
        procs.stop(f"envoy-mem-{name}")
    results["envoy_memory"] = out
