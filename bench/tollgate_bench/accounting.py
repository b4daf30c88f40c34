"""/proc accounting: how much CPU and memory our processes used during a measurement,
and how busy the rest of the machine was at the same time (other builds, browsers and
tests sharing its cores)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and of every live descendant (servers that fork workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += proc_cpu_s(p)
        todo.extend(children.get(p, []))
    return total


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot (every state but idle and iowait)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (parts + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rss_kib(pid: int) -> dict:
    """{"VmRSS": KiB, "VmHWM": KiB} of one process: resident now, and its peak."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def postgres_cpu_s(pg) -> float:
    """CPU of the postmaster and its children: the live ones (the ledger pool's backends
    live for the run) and, from the postmaster's cutime + cstime, those that exited
    (autovacuum workers, psql sessions)."""
    try:
        master = int((pg.data / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
        total = proc_cpu_s(master) + (int(fields[13]) + int(fields[14])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == master:
                total += proc_cpu_s(int(d))
    return total


class RunnableThreadsSampler:
    """Samples /proc twice a second for runnable threads that are not ours (compiles,
    browsers and tests sharing the machine; kernel threads excluded), so each
    measurement can say how contended the cores were. Reported as "other runnable
    threads" (the results key is `compilers`)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.me = os.getpid()
        self.also: set[int] = set()  # daemons we started (a PostgreSQL postmaster): ours too
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "RunnableThreadsSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            table = {}
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                table[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])  # ppid
            n = 0
            for pid, ppid in table.items():
                if pid == 2 or ppid == 2:  # kernel threads
                    continue
                p, ours = pid, False
                for _ in range(64):  # walk up to init: is it us or one of our descendants?
                    if p == self.me or p in self.also:
                        ours = True
                        break
                    if p <= 1 or p not in table:
                        break
                    p = table[p]
                if ours:
                    continue
                # Count runnable threads: a compiler's main thread often waits on its workers.
                try:
                    tids = os.listdir(f"/proc/{pid}/task")
                except OSError:
                    continue
                for tid in tids:
                    try:
                        st = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                    except OSError:
                        continue
                    n += st[st.rindex(")") + 2] == "R"
            self.samples.append((time.monotonic(), n))

    def mean(self, t0: float, t1: float) -> float:
        """Mean number of other runnable threads sampled between t0 and t1 (monotonic)."""
        xs = [n for t, n in self.samples if t0 <= t <= t1]
        return sum(xs) / len(xs) if xs else 0.0


# One sampler per run: started and stopped by bench/run.py, read by every measurement.
OTHER_THREADS = RunnableThreadsSampler()
