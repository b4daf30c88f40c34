"""Envoy as the filter and memory sections run it: the upstreams every Envoy variant
points at (one simulator, one ledger), the bootstrap of each variant (Tollgate's
rendered config, plain Envoy, the floor filters of bench/floor-filter), and the
counters read from a running Envoy's admin endpoint."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from .chat_request import write_bodies
from .processes import ROOT, SIM_OPENAI_KEY, Procs

# The floor: a trivial wasm filter (bench/floor-filter, built by `make bench`).
FLOOR_WASM = Path(os.environ.get(
    "FLOOR_WASM", ROOT / "bench" / "floor-filter" / "target" / "wasm32-wasip1" / "release" / "floor_filter.wasm"))


@dataclass
class Upstreams:
    """The simulator and ledger every Envoy variant of a run points at, the Tollgate
    config they start from, and the two request bodies wrk sends."""

    simulator: str
    ledger: str
    base: dict  # the Tollgate config (--config), parsed
    fixed_body: Path
    unique_body: Path


# What every wallet opens with, and every budget is, in the bench's copy of the config:
# far more than any run spends (a full `make bench` spends under $100 of the simulator's
# prices per team), so wallet enforcement is measured as the check a funded team passes,
# every round alike, and no budget threshold is crossed part-way through a run.
BENCH_WALLET_USD = "1000000.00"


def bench_config(base: dict) -> dict:
    """The config with every wallet's opening allocation and every budget at
    BENCH_WALLET_USD. The example's own wallets are demo-sized (team_support opens at
    $10, about 130,000 of the benchmark's chat requests): variants that share a team
    would empty it part-way through a run and be refused with 402s."""
    doc = copy.deepcopy(base)
    for wallet in doc.get("wallets") or []:
        wallet["initial_usd"] = BENCH_WALLET_USD
    for budget in doc.get("budgets") or []:
        budget["amount_usd"] = BENCH_WALLET_USD
    return doc


def start_upstreams(procs: Procs, work: Path, config: Path) -> Upstreams:
    """Starts the simulator ("simulator") and a ledger ("ledger") on the bench's copy of
    `config` (see `bench_config`), which every Envoy variant then starts from."""
    base = bench_config(yaml.safe_load(config.read_text()))
    bench_cfg = work / "tollgate-bench.yaml"
    bench_cfg.write_text(yaml.safe_dump(base, sort_keys=False))
    sim = procs.start_simulator(work)
    ledger = procs.start_ledger("ledger", work, work / "ledger-a", config=bench_cfg)
    fixed, unique = write_bodies(work)
    return Upstreams(sim, ledger, base, fixed, unique)


def config_variant(base: dict, *, cache: bool, enforcement: bool) -> dict:
    """The Tollgate config with the response cache and wallet enforcement set as given."""
    doc = copy.deepcopy(base)
    doc["cache"]["enabled"] = cache
    doc["cost_tracking"]["wallet_enforcement"] = enforcement
    return doc


def plain_bootstrap(rendered: dict) -> dict:
    """The same listener, clusters and buffer limits without the wasm filter and flusher,
    with `/` routed to the simulator's OpenAI cluster. The route swaps the team key for the
    provider key, as the filter would (the simulator checks it)."""
    b = copy.deepcopy(rendered)
    b.pop("bootstrap_extensions", None)
    hcm = b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.wasm"]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [{
        "match": {"prefix": "/"},
        "route": {"cluster": "provider_openai", "timeout": "0s", "idle_timeout": "300s"},
        "request_headers_to_add": [{
            "header": {"key": "authorization", "value": f"Bearer {SIM_OPENAI_KEY}"},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }],
    }]
    return b


def floor_bootstrap(rendered: dict, *, buffer_bodies: bool = False) -> dict:
    """Plain Envoy plus the wasm filter of bench/floor-filter in the same V8 runtime Tollgate
    uses. Default: one request-header read, one response-header write (what any proxy-wasm
    filter costs here). `buffer_bodies`: only the host calls Tollgate's miss path cannot
    avoid (pause until both bodies are complete, read both header maps and bodies, set
    three request and three response headers): the floor for a filter that routes by the
    request body and accounts from the answer."""
    b = plain_bootstrap(rendered)
    hcm = b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    mode = "buffer-bodies" if buffer_bodies else "trivial"
    hcm["http_filters"].insert(0, {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "floor",
                "allow_on_headers_stop_iteration": True,
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": mode},
                "vm_config": {"vm_id": f"floor-{mode}", "runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": str(FLOOR_WASM)}}},
            },
        },
    })
    return b


def envoy_stats(admin: str, prefix: str = "wasmcustom.tollgate") -> dict[str, int]:
    """The integer stats of a running Envoy whose names match `prefix` (Tollgate's own by default)."""
    text = requests.get(f"http://{admin}/stats", params={"filter": prefix}, timeout=5).text
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            out[name.strip()] = int(value)
    return out


def downstream_requests(admin: str) -> int:
    """Requests the Envoy's listener has received so far."""
    return envoy_stats(admin, "http.tollgate.downstream_rq_total").get("http.tollgate.downstream_rq_total", 0)
