"""Every process a benchmark run starts, and stops by PID: the simulator, ledgers and
Envoys (started by tests/harness/stack.py, as the end-to-end tests start them), wrk
(measured runs and background load), perf on an Envoy's PID, a durable PostgreSQL
server (tests/harness/postgres.py), and the ledger's `tokens create`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .accounting import OTHER_THREADS, machine_busy_s, proc_cpu_s
from .chat_request import TEAM_KEY
from .log import log

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import stack as harness  # noqa: E402

LUA = ROOT / "bench" / "chat.lua"  # the wrk script: POSTs the body file, prints BENCH_JSON
SIM_OPENAI_KEY = harness.SIM_OPENAI_KEY
envoy_binary = harness.envoy_binary


class Procs:
    """Everything this run started, by name; stopped in reverse order at the end."""

    def __init__(self) -> None:
        self.procs: dict[str, harness.Proc] = {}

    def add(self, name: str, proc: harness.Proc) -> None:
        self.procs[name] = proc

    def pid(self, name: str) -> int:
        return self.procs[name].popen.pid

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc:
            proc.stop()

    def stop_all(self) -> None:
        for name in list(self.procs)[::-1]:
            try:
                self.stop(name)
            except Exception as e:  # keep stopping the rest
                log(f"stopping {name}: {e}")

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of every running process, by name."""
        return {name: proc_cpu_s(p.popen.pid) for name, p in self.procs.items()}

    def start_simulator(self, work: Path) -> str:
        """Starts the provider simulator as "simulator"; returns its address."""
        proc, addr = harness.start_simulator(work)
        self.add("simulator", proc)
        return addr

    def start_ledger(self, name: str, work: Path, data: Path, *, config: Path | None = None,
                     extra: list[str] | None = None) -> str:
        """Starts a ledger on `data` under `name`; returns its address."""
        proc, addr = harness.start_ledger(work, data, config=config, extra=extra)
        self.add(name, proc)
        return addr

    def start_envoy(self, name: str, bootstrap: Path, work: Path, *, concurrency: int) -> tuple[str, str]:
        """Starts an Envoy on `bootstrap` under `name`; returns (listener, admin) addresses."""
        proc, addr, admin = harness.start_envoy(bootstrap, work, harness.next_base_id(), concurrency=concurrency,
                                                name=name)
        self.add(name, proc)
        return addr, admin


def render_envoy(config: Path, out: Path, *, simulator: str, ledger: str) -> None:
    """`tollgate-ledger render-envoy` of a Tollgate config, on free loopback ports."""
    harness.render_envoy(config, out, simulator=simulator, ledger=ledger, listen="127.0.0.1:0", admin="127.0.0.1:0")


def create_admin_token(data: Path, ledger_args: list[str]) -> str:
    """An admin token, created the way an operator does (`tollgate-ledger tokens create`)."""
    made = subprocess.run([str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "tokens", "create",
                           "--role", "admin", "--name", "bench", "--data-dir", str(data)] + ledger_args,
                          capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        raise RuntimeError(f"tokens create failed: {made.stderr.strip()}")
    return made.stdout.strip()


# ---------------------------------------------------------------------------------------
# wrk


def _wrk_env(body_file: Path, *, unique: bool, tag: str, stop_after: int | None = None, key: str = TEAM_KEY,
             headers: dict[str, str] | None = None, path: str = "/v1/chat/completions") -> dict:
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_KEY=key, BENCH_PATH=path,
               BENCH_UNIQUE="1" if unique else "0", BENCH_RUN_TAG=tag,
               BENCH_HEADERS="|".join(f"{k}: {v}" for k, v in (headers or {}).items()))
    if stop_after is not None:
        env["BENCH_STOP_AFTER"] = str(stop_after)
    return env


def wrk(target: str, body_file: Path, *, duration: float, threads: int, conns: int,
        unique: bool = False, stop_after: int = 0, tag: str = "", procs: Procs | None = None,
        work: Path, key: str = TEAM_KEY, headers: dict[str, str] | None = None,
        path: str = "/v1/chat/completions") -> dict:
    """One measured wrk run: its BENCH_JSON figures (requests, latency percentiles,
    errors) plus req/s, the CPU seconds of each of `procs` and of wrk itself, the rest
    of the machine's busy time, and the mean of other runnable threads."""
    env = _wrk_env(body_file, unique=unique, tag=tag or str(time.time_ns()), stop_after=stop_after, key=key,
                   headers=headers, path=path)
    out_path = work / "wrk.out"
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(LUA), f"http://{target}"]
    cpu0 = procs.cpu() if procs else {}
    busy0 = machine_busy_s()
    t0 = time.monotonic()
    with open(out_path, "wb") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    busy = machine_busy_s() - busy0
    cpu1 = procs.cpu() if procs else {}
    text = out_path.read_text(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if p.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({p.returncode}):\n{text}")
    r = json.loads(line.split(" ", 1)[1])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in r if k.startswith("errors_"))
    ours = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in cpu1}
    ours["wrk"] = usage.ru_utime + usage.ru_stime
    r["cpu_s"] = {k: round(v, 2) for k, v in ours.items() if v > 0.005}
    r["machine_busy_s"] = round(busy, 2)
    r["foreign_cpu_s"] = round(max(0.0, busy - sum(ours.values())), 2)
    r["wall_s"] = round(wall, 2)
    r["compilers"] = round(OTHER_THREADS.mean(t0, t0 + wall), 2)
    return r


def start_wrk(target: str, body_file: Path, *, threads: int, conns: int, seconds: int, unique: bool,
              tag: str, headers: dict[str, str] | None = None) -> subprocess.Popen:
    """wrk as background load, output discarded; the caller waits for it or stops it by PID."""
    return subprocess.Popen(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "-s", str(LUA), f"http://{target}"],
                            env=_wrk_env(body_file, unique=unique, tag=tag, headers=headers), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)


# ---------------------------------------------------------------------------------------
# perf


def perf_record(pid: int, seconds: float, data: Path, *, hz: int) -> subprocess.CompletedProcess:
    """`perf record` of one process at `hz` samples per second for `seconds`, into `data`."""
    return subprocess.run(["perf", "record", "-F", str(hz), "-o", str(data), "-p", str(pid), "--",
                           "sleep", str(seconds)], capture_output=True, text=True)


def perf_report(data: Path, sort: str) -> str:
    """`perf report --stdio -n` of `data`, samples grouped by `sort` (dso, comm, ...)."""
    return subprocess.run(["perf", "report", "-i", str(data), "--sort", sort, "-g", "none", "--stdio", "-n"],
                          capture_output=True, text=True).stdout


# ---------------------------------------------------------------------------------------
# PostgreSQL


def start_postgres():
    """A throwaway PostgreSQL from tests/harness/postgres.py, restarted with durable
    settings (fsync, full_page_writes and synchronous_commit at their defaults: on), so
    that it is compared fairly with SQLite's synchronous=FULL. Returns the server."""
    import postgres as pg_harness

    pg = pg_harness.PostgresServer(log=sys.stdout)
    pg.start()
    r = pg._as_server_user(
        [pg.bin / "pg_ctl", "-D", pg.data, "-l", pg.log_path, "-o",
         f"-p {pg.port} -k {pg.sockets} -c listen_addresses=127.0.0.1 -c max_connections=100",
         "-w", "-t", "60", "restart"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        pg.stop()
        raise RuntimeError(f"PostgreSQL restart with fsync on failed:\n{r.stdout}")
    fsync = pg.psql("postgres", "SHOW fsync")
    if fsync != "on":
        pg.stop()
        raise RuntimeError(f"PostgreSQL fsync is {fsync!r}, expected on")
    try:
        OTHER_THREADS.also.add(int((pg.data / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        pass
    return pg
