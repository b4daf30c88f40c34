#!/usr/bin/env python3
"""`make bench-path-wasm`: the filter's whole request path compiled to wasm, under wasmtime.

The benchmark of `filter/benches/request_path.rs` (the filter's callbacks on the fake
proxy-wasm host, as Envoy calls them) built for wasm32-wasip1 as the filter is, linked
to its own fake host (`bench/wasm-relink`) and run under wasmtime (PyPI), one case per
process. It gives the filter's time inside a wasm VM without Envoy's run-to-run spread;
inside Envoy the same code runs under V8.

With `--profile`, each case also runs under `perf record` with wasmtime's perf map, and
the wasm functions that take the most samples are listed by name (V8's frames inside
Envoy cannot be named from the stripped Envoy binary; these can).

`--runtime node` runs the module under Node.js's V8 instead (TurboFan only, as Envoy runs
V8), when `node` is installed. `--cold BYTES` writes that much other memory before each
callback, so each one starts with cold caches, as between Envoy's own work.

    .venv/bin/python bench/wasm_path.py [--profile] [--top N] [--runtime wasmtime|node] [--cold BYTES] [case ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "wasm-path"
RELINK = ROOT / "bench" / "wasm-relink"
CASES = ["miss, cache off", "miss, cache on", "hit"]

# Runs a WASI program under wasmtime, optionally writing the perf map that names JIT
# frames (/tmp/perf-<pid>.map).
RUNNER = """
import os, sys, wasmtime
config = wasmtime.Config()
if os.environ.get("TOLLGATE_PERFMAP"):
    config.profiler = "perfmap"
engine = wasmtime.Engine(config)
store = wasmtime.Store(engine)
wasi = wasmtime.WasiConfig()
wasi.argv = sys.argv[1:]
wasi.env = [(k, v) for k, v in os.environ.items() if k.startswith("TOLLGATE_BENCH_")]
wasi.inherit_stdout()
wasi.inherit_stderr()
store.set_wasi(wasi)
linker = wasmtime.Linker(engine)
linker.define_wasi()
instance = linker.instantiate(store, wasmtime.Module.from_file(engine, sys.argv[1]))
try:
    instance.exports(store)["_start"](store)
except wasmtime.ExitTrap as trap:
    sys.exit(trap.code)
"""


# The same under Node.js's V8. Envoy compiles wasm with TurboFan only (`--no-liftoff`).
NODE_RUNNER = """
const { WASI } = require("node:wasi");
const fs = require("fs");
const [file, ...args] = process.argv.slice(1);  // with -e, no script path
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("TOLLGATE_BENCH_")));
const wasi = new WASI({ version: "preview1", args: [file, ...args], env, returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)),
                                          { wasi_snapshot_preview1: wasi.wasiImport });
// The module also exports `_initialize` (every symbol is exported for the relinker),
// which WASI.start refuses beside `_start`.
process.exitCode = wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
"""


def build() -> Path:
    """The benchmark's wasm module with its host imports linked to the fake host."""
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--manifest-path", str(RELINK / "Cargo.toml")],
        check=True,
    )
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    # The fake host's functions must be exported for the relinker to find them.
    env["RUSTFLAGS"] = (env.get("RUSTFLAGS", "") + " -C link-arg=--export-dynamic").strip()
    out = subprocess.run(
        ["cargo", "bench", "--no-run", "--message-format=json", "-p", "tollgate-filter",
         "--features", "fake-host", "--bench", "request_path", "--target", "wasm32-wasip1"],
        check=True, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
    ).stdout
    built = [
        m["executable"] for m in map(json.loads, out.splitlines())
        if m.get("reason") == "compiler-artifact" and m.get("executable")
        and m["target"]["name"] == "request_path"
    ]
    if not built:
        sys.exit("bench/wasm_path.py: cargo built no request_path module")
    linked = TARGET / "request_path.linked.wasm"
    subprocess.run([str(RELINK / "target" / "release" / "wasm-relink"), built[-1], str(linked)],
                   check=True)
    return linked


def run_case(module: Path, case: str, env: dict | None = None, prefix: list[str] | None = None,
             runtime: str = "wasmtime") -> str:
    """The benchmark's table row for `case`."""
    if runtime == "node":
        command = ["node", "--no-liftoff", "--no-warnings", "-e", NODE_RUNNER, "--", str(module)]
    else:
        command = [sys.executable, "-c", RUNNER, str(module)]
    out = subprocess.run(
        [*(prefix or []), *command, case, "--bench"],
        check=True, stdout=subprocess.PIPE, text=True, env=env,
    ).stdout
    # The case's row: its first cell names it (the header's first cell is "path ...").
    rows = [line for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| path")
            and case in line.split("|")[1]]
    if not rows:
        sys.exit(f"bench/wasm_path.py: no result for {case!r}:\n{out}")
    return rows[-1]


def profile(module: Path, case: str, top: int) -> list[str]:
    """The wasm functions with the most samples while `case` runs, as percentages of the
    samples in wasm code (compilation by wasmtime and Python excluded)."""
    if shutil.which("perf") is None:
        return ["(perf is not installed: no profile)"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        env = dict(os.environ, TOLLGATE_PERFMAP="1")
        run_case(module, case, env=env, prefix=["perf", "record", "-q", "-F", "4999", "-o", str(data), "--"])
        report = subprocess.run(
            ["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "-g", "none",
             "--percent-limit", "0", "--stdio", "-q"],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        ).stdout
    # The benchmark's own loop and driver are not the filter.
    driver = ("request_path::", "tollgate_filter::test_plugin")
    jit = []
    for line in report.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].endswith("%") and "[JIT]" in parts[1]:
            name = parts[1].split("[.]", 1)[-1].strip()
            if not name.startswith(driver):
                jit.append((float(parts[0].rstrip("%")), name))
    total = sum(share for share, _ in jit) or 1.0
    lines = [f"{100 * share / total:5.1f}%  {name}" for share, name in sorted(jit, reverse=True)]
    return lines[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", default=CASES, help="case names (or a word of one)")
    parser.add_argument("--profile", action="store_true", help="also list where each case's wasm time goes")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--runtime", choices=["wasmtime", "node"], default="wasmtime",
                        help="the wasm runtime (node: Node.js's V8, TurboFan only)")
    parser.add_argument("--cold", type=int, default=0, metavar="BYTES",
                        help="bytes of other memory written before each callback (cold caches)")
    args = parser.parse_args()
    if args.runtime == "node" and shutil.which("node") is None:
        sys.exit("bench/wasm_path.py: --runtime node needs Node.js (`node`) installed")
    if args.profile and args.runtime != "wasmtime":
        sys.exit("bench/wasm_path.py: --profile names wasmtime's frames; use the default runtime")
    env = dict(os.environ, TOLLGATE_BENCH_COLD_BYTES=str(args.cold))
    module = build()
    cold = f", {args.cold:,} bytes written between callbacks" if args.cold else ""
    print(f"| path (973-byte request, wallet enforcement off), wasm under {args.runtime}{cold} | request ns | response ns | log ns | tick ns | total ns | allocations (request / response / log / tick) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rows = [(case, run_case(module, case, env=env, runtime=args.runtime)) for case in args.cases]
    for _, row in rows:
        print(row)
    if args.profile:
        for case, _ in rows:
            print(f"\nWhere `{case}` spends its time in wasm (share of the samples in wasm code, fake host included):\n")
            for line in profile(module, case, args.top):
                print(f"    {line}")


if __name__ == "__main__":
    main()
