"""The Python load generator for the ledger: cost events shaped like a plausible
organisation's (teams, users, workflows, models, cache hits, provider errors), encoded
cheaply, and posted in batches to `POST /v1/events` from several keep-alive connections."""

from __future__ import annotations

import http.client
import json
import os
import queue
import statistics
import threading
import time

from .accounting import OTHER_THREADS
from .processes import harness

# The data plane's token, which every ledger the bench starts accepts (tests/harness).
INGEST_HEADERS = harness.ingest_headers()
from .log import log

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

TEAMS = 50
USERS_PER_TEAM = 10
MODELS = [  # (provider, lane, model_requested, model_served, input price, output price) $/M
    ("openai", "openai-gpt4o-mini", "gpt-4o-mini", "gpt-4o-mini", 0.15, 0.60),
    ("openai", "openai-gpt4o", "gpt-4o", "gpt-4o", 2.50, 10.00),
    ("anthropic", "anthropic-haiku", "claude-haiku", "claude-haiku-4-5", 1.00, 5.00),
    ("anthropic", "anthropic-sonnet", "claude-sonnet", "claude-sonnet-4-5", 3.00, 15.00),
]
WORKFLOWS = ["triage", "summarise", "draft-reply", "classify", "codegen"]


class EventFactory:
    """Cost events as JSON text, cheaply: every event is `{"id":"<hex>","ts_ms":T,`
    followed by one of a fixed pool of attribute suffixes. Attribution follows a
    plausible shape: 50 teams x 10 users, each user with one workflow, a main model
    (about 85% of its calls) and a second one, ~10% cache hits, ~2% provider errors."""

    POOL = 4096

    def __init__(self, seed: int = 7, ordered_ids: bool = False) -> None:
        import random

        # `ordered_ids`: the event time first (48-bit ms, then 80 random bits), as the
        # filter makes its ids (UUIDv7-like); otherwise 128 random bits, to show what the
        # `id UNIQUE` index costs when inserts land at random instead of at its end.
        self.ordered_ids = ordered_ids

        rnd = random.Random(seed)
        users = []
        for t in range(TEAMS):
            for u in range(USERS_PER_TEAM):
                main, other = rnd.sample(range(len(MODELS)), 2)
                users.append((t, f"user{t:02d}{u:02d}@example.com", rnd.choice(WORKFLOWS), main, other))
        suffixes = []
        for _ in range(self.POOL):
            t, user, wf, main, other = rnd.choice(users)
            provider, lane, requested, served, pin, pout = MODELS[main if rnd.random() < 0.85 else other]
            inp, out = rnd.randint(200, 4000), rnd.randint(20, 800)
            hit = rnd.random() < 0.10
            err = not hit and rnd.random() < 0.02
            cost = 0 if (hit or err) else round(inp * pin * 1000 + out * pout * 1000)
            avoided = round(inp * pin * 1000 + out * pout * 1000) if hit else 0
            suffixes.append(
                f'"consumer_group":"g{t:02d}","team":"team_{t:02d}","user":"{user}","workflow":"{wf}",'
                f'"api":"{"messages" if provider == "anthropic" else "chat_completions"}",'
                f'"provider":"{provider}","lane":"{lane}","model_requested":"{requested}",'
                f'"model_served":"{served}","tokens":{{"input":{0 if err else inp},"cached_input":0,'
                f'"cache_write":0,"output":{0 if (err or hit) else out}}},'
                f'"usage_source":"{"none" if err else "reported"}","cost_nanos":{cost},"unpriced":false,'
                f'"outcome":"{"provider_error" if err else "ok"}","http_status":{500 if err else 200},'
                f'"latency_ms":{rnd.randint(5 if hit else 300, 20 if hit else 9000)},"stream":{"true" if rnd.random() < 0.3 else "false"},'
                f'"cache":"{"hit" if hit else "miss"}","cost_avoided_nanos":{avoided},'
                f'"premium":false,"premium_approved":false}}')
        self.suffixes = suffixes
        self.batch_no = 0

    def batch(self, n: int, t0_ms: int, step_ms: float) -> bytes:
        """n events with timestamps t0, t0+step, ... (ids as `ordered_ids` says)."""
        ids = os.urandom(16 * n).hex()
        off = (self.batch_no * 7919) % self.POOL
        self.batch_no += 1
        sfx = self.suffixes
        pool = self.POOL
        if self.ordered_ids:
            parts = [
                f'{{"id":"{t0_ms + int(i * step_ms):012x}{ids[32 * i + 12:32 * i + 32]}","ts_ms":{t0_ms + int(i * step_ms)},{sfx[(off + i) % pool]}'
                for i in range(n)
            ]
        else:
            parts = [
                f'{{"id":"{ids[32 * i:32 * i + 32]}","ts_ms":{t0_ms + int(i * step_ms)},{sfx[(off + i) % pool]}'
                for i in range(n)
            ]
        return ("[" + ",".join(parts) + "]").encode()


def ingest(ledger: str, factory: EventFactory, *, total: int, batch: int, senders: int,
           t_start_ms: int, span_ms: int, time_budget_s: float, progress: str = "") -> dict:
    """Posts `total` events in batches from `senders` threads (each its own keep-alive
    connection, one batch in flight); timestamps spread evenly over [t_start, t_start +
    span) in send order. One producer thread encodes the batches a few ahead (at most
    two per sender), so a sender has its next batch ready when its answer comes, as the
    filter has its next events buffered: the GIL-bound encoding (~1.4 µs per event)
    overlaps the ledger's work instead of adding to every round trip. Stops early at
    time_budget_s. Returns counts, rate and per-batch latency."""
    host, port = ledger.rsplit(":", 1)
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "batches": 0, "error": None}
    latencies: list[float] = []
    step = span_ms / max(total, 1)
    deadline = time.monotonic() + time_budget_s
    marks: list[tuple[float, int]] = []
    ready: queue.Queue = queue.Queue(maxsize=2 * senders)

    def producer():
        while True:
            with lock:
                if state["error"] or state["next"] >= total or time.monotonic() > deadline:
                    break
                first = state["next"]
                n = min(batch, total - first)
                state["next"] += n
            body = factory.batch(n, t_start_ms + int(first * step), step)
            while True:
                try:
                    ready.put(body, timeout=0.5)
                    break
                except queue.Full:
                    if state["error"]:
                        return
        for _ in range(senders):
            ready.put(None)

    def worker():
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            while True:
                try:
                    body = ready.get(timeout=0.5)
                except queue.Empty:
                    if state["error"]:
                        return
                    continue
                if body is None or state["error"] or time.monotonic() > deadline:
                    return
                t = time.monotonic()
                conn.request("POST", "/v1/events", body=body,
                             headers={"Content-Type": "application/json", **INGEST_HEADERS})
                resp = conn.getresponse()
                data = resp.read()
                dt = time.monotonic() - t
                if resp.status != 200:
                    with lock:
                        state["error"] = f"status {resp.status}: {data[:300]!r}"
                    return
                accepted = json.loads(data)["accepted"]
                with lock:
                    state["accepted"] += accepted
                    state["batches"] += 1
                    latencies.append(dt)
                    marks.append((time.monotonic(), state["accepted"]))
                    if progress and state["batches"] % 1000 == 0:
                        log(f"{progress}: {state['accepted']:,} events")
        except Exception as e:  # noqa: BLE001
            with lock:
                state["error"] = repr(e)
        finally:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(senders)]
    feeder = threading.Thread(target=producer, daemon=True)
    feeder.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t0
    if state["error"]:
        raise RuntimeError(f"ingest failed: {state['error']}")
    out = {
        "compilers": round(OTHER_THREADS.mean(t0, t0 + elapsed), 2),
        "events": state["accepted"], "batches": state["batches"], "elapsed_s": round(elapsed, 2),
        "events_per_s": state["accepted"] / elapsed if elapsed else 0.0,
        "batch_p50_ms": statistics.median(latencies) * 1000 if latencies else 0,
        "batch_p95_ms": percentile(latencies, 95) * 1000 if latencies else 0,
        "stopped_by_time": state["next"] < total,
    }
    # Rate over the last 10% of the load (does ingest slow down as the table grows?).
    if len(marks) > 20:
        k = max(1, len(marks) // 10)
        (ta, ea), (tb, eb) = marks[-k - 1], marks[-1]
        out["events_per_s_last10pct"] = (eb - ea) / (tb - ta) if tb > ta else 0.0
        (ta, ea), (tb, eb) = (t0, 0), marks[k]
        out["events_per_s_first10pct"] = (eb - ea) / (tb - ta) if tb > ta else 0.0
    return out


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile of `values`, linearly interpolated between ranks (0 if empty)."""
    s = sorted(values)
    if not s:
        return 0.0
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
