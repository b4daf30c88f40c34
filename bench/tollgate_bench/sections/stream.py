"""Section e, the streaming miss path: a 1,000-chunk SSE answer (the simulator's
`x-sim-answer-words: 4000`, four words per chunk) streamed to the client through plain
Envoy and through Envoy + Tollgate (wallet enforcement on, cache off: every stream is a
miss that Tollgate reads chunk by chunk for usage), in three shapes: OpenAI Chat
Completions, Anthropic Messages, and an OpenAI client served by the Anthropic lane
(translated chunk by chunk). wrk drives each; reported per shape: streams/s, Envoy's CPU
per stream and per chunk, Tollgate's added CPU per chunk, and the ratio to plain Envoy
streaming the same upstream answer."""

from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

import requests
import yaml

from ..envoy import Upstreams, config_variant, plain_bootstrap
from ..log import log
from ..processes import Procs, harness, render_envoy, wrk

ANSWER_WORDS = 4000  # 4 words per chunk: 1,000 content chunks
CHUNKS = ANSWER_WORDS // 4
# A team whose wallet pays for every stream of a run (examples/tollgate.yaml).
STREAM_KEY = "kt_cg_engineering_prod"
SIM_HEADERS = {"x-sim-answer-words": str(ANSWER_WORDS)}


def shapes() -> list[dict]:
    """Each shape: the client's path, body and headers; which plain Envoy is its baseline."""
    prompt = "Write the night shift's runbook for the drifting TS-4410 sensors, step by step."
    return [
        {"name": "openai", "label": "OpenAI Chat Completions stream", "path": "/v1/chat/completions",
         "body": {"model": "gpt-5.4-mini-mini", "stream": True, "max_tokens": 8000,
                  "messages": [{"role": "user", "content": prompt}]},
         "headers": {}, "plain": "plain-openai"},
        {"name": "anthropic", "label": "Anthropic Messages stream", "path": "/v1/messages",
         "body": {"model": "claude-haiku", "stream": True, "max_tokens": 8000,
                  "messages": [{"role": "user", "content": prompt}]},
         "headers": {"anthropic-version": "2023-06-01"}, "plain": "plain-anthropic"},
        {"name": "translated", "label": "OpenAI client, Anthropic lane (translated)", "path": "/v1/chat/completions",
         "body": {"model": "claude-haiku", "stream": True, "max_tokens": 8000,
                  "messages": [{"role": "user", "content": prompt}]},
         "headers": {}, "plain": "plain-anthropic"},
    ]


def plain_anthropic_bootstrap(rendered: dict) -> dict:
    """Plain Envoy routing every request to the simulator's Anthropic cluster with the
    provider's key, as the filter would."""
    b = plain_bootstrap(rendered)
    hcm = b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [{
        "match": {"prefix": "/"},
        "route": {"cluster": "provider_anthropic", "timeout": "0s", "idle_timeout": "300s"},
        "request_headers_to_add": [{
            "header": {"key": "x-api-key", "value": harness.SIM_ANTHROPIC_KEY},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }],
        "request_headers_to_remove": ["authorization"],
    }]
    return b


def plain_body(shape: dict) -> dict:
    """What plain Envoy is sent for a shape: the upstream's own request (the translated
    shape's upstream speaks Anthropic)."""
    if shape["name"] == "translated":
        return next(s for s in shapes() if s["name"] == "anthropic")["body"]
    return shape["body"]


def run(args, work: Path, procs: Procs, up: Upstreams, results: dict) -> None:
    doc = config_variant(up.base, cache=False, enforcement=True)
    cfg = work / "tollgate-stream.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    boot = work / "envoy-stream.yaml"
    render_envoy(cfg, boot, simulator=up.simulator, ledger=up.ledger)
    rendered = yaml.safe_load(boot.read_text())
    plain_oa = work / "envoy-plain-openai.yaml"
    plain_oa.write_text(yaml.safe_dump(plain_bootstrap(copy.deepcopy(rendered)), sort_keys=False))
    plain_an = work / "envoy-plain-anthropic.yaml"
    plain_an.write_text(yaml.safe_dump(plain_anthropic_bootstrap(copy.deepcopy(rendered)), sort_keys=False))
    targets = {
        "plain-openai": procs.start_envoy("envoy-s-plain-openai", plain_oa, work, concurrency=args.envoy_concurrency),
        "plain-anthropic": procs.start_envoy("envoy-s-plain-anthropic", plain_an, work,
                                             concurrency=args.envoy_concurrency),
        "tollgate": procs.start_envoy("envoy-s-tollgate", boot, work, concurrency=args.envoy_concurrency),
    }
    pids = {"plain-openai": "envoy-s-plain-openai", "plain-anthropic": "envoy-s-plain-anthropic",
            "tollgate": "envoy-s-tollgate"}
    out = []
    try:
        for shape in shapes():
            bodies = {"tollgate": shape["body"], shape["plain"]: plain_body(shape)}
            paths = {"tollgate": shape["path"],
                     shape["plain"]: "/v1/messages" if shape["plain"] == "plain-anthropic" else shape["path"]}
            files = {}
            for who, body in bodies.items():
                f = work / f"stream-{shape['name']}-{who}.json"
                f.write_text(json.dumps(body))
                files[who] = f
            events = {}
            for who in bodies:
                hdr = {"Authorization": f"Bearer {STREAM_KEY}", "Content-Type": "application/json", **SIM_HEADERS}
                if paths[who] == "/v1/messages":
                    hdr["anthropic-version"] = "2023-06-01"
                r = requests.post(f"http://{targets[who][0]}{paths[who]}", data=files[who].read_bytes(), headers=hdr,
                                  timeout=60)
                if r.status_code != 200:
                    raise RuntimeError(f"{who} {shape['name']}: {r.status_code} {r.text[:300]}")
                events[who] = sum(1 for line in r.text.splitlines() if line.startswith("data:"))
                if events[who] < CHUNKS:
                    raise RuntimeError(f"{who} {shape['name']}: {events[who]} SSE events, expected > {CHUNKS}")
            runs: dict[str, list[dict]] = {who: [] for who in bodies}
            for rnd in range(args.rounds):
                for who in bodies:
                    headers = dict(SIM_HEADERS)
                    if paths[who] == "/v1/messages":
                        headers["anthropic-version"] = "2023-06-01"
                    kw = dict(threads=args.wrk_threads, conns=args.stream_conns, work=work, key=STREAM_KEY,
                              headers=headers, path=paths[who])
                    wrk(targets[who][0], files[who], duration=args.warmup, tag=f"sw{rnd}{who}", **kw)
                    r = wrk(targets[who][0], files[who], duration=args.duration, tag=f"sr{rnd}{who}", procs=procs, **kw)
                    cpu = r["cpu_s"].get(pids[who], 0.0)
                    r["envoy_cpu_us_per_stream"] = cpu / max(r["requests"], 1) * 1e6
                    r["envoy_cpu_ns_per_chunk"] = r["envoy_cpu_us_per_stream"] * 1000 / events[who]
                    runs[who].append(r)
                    log(f"e. {shape['name']:10s} round {rnd + 1} {who:15s} {r['rps']:7.0f} streams/s  "
                        f"p50 {r['p50_us'] / 1000:.2f} ms  envoy {r['envoy_cpu_us_per_stream']:.0f} µs CPU/stream "
                        f"({r['envoy_cpu_ns_per_chunk']:.0f} ns/chunk)  errors {r['errors']}")
            med = {who: {k: statistics.median(x[k] for x in rs) for k in
                         ("rps", "envoy_cpu_us_per_stream", "envoy_cpu_ns_per_chunk", "p50_us", "p99_us")}
                   for who, rs in runs.items()}
            t, p = med["tollgate"], med[shape["plain"]]
            out.append({"shape": shape["name"], "label": shape["label"], "events": events, "plain": p, "tollgate": t,
                        "ratio": t["rps"] / p["rps"] if p["rps"] else 0.0,
                        "added_ns_per_chunk": (t["envoy_cpu_us_per_stream"] - p["envoy_cpu_us_per_stream"]) * 1000
                        / events["tollgate"],
                        "errors": sum(x["errors"] for rs in runs.values() for x in rs), "runs": runs})
    finally:
        for name in pids.values():
            procs.stop(name)
    results["stream"] = {"answer_words": ANSWER_WORDS, "conns": args.stream_conns, "rounds": args.rounds,
                         "duration_s": args.duration, "shapes": out}
