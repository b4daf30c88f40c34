"""The ledger the dashboard's browser tests look at: 60 seeded days of demo history,
the organisation's reporting time zone set to America/New_York (so every day, month
and export is checked off UTC), two monthly budgets, `--require-tokens`, a team with
perfectly flat traffic (one identical event an hour for 75 days), refusals by the
support team's wallet limit and a hold of an Envoy that stopped without reporting.
Also the helpers the tests share: API reads and the page's range presets in Python."""

from __future__ import annotations

import subprocess
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import requests
import yaml

import stack as harness
from browser import Browser

ZONE = "America/New_York"
ARTIFACTS = harness.ROOT / "tests" / "artifacts"
FLAT = "team_flat"
FLAT_COST = 100_000_000  # nanodollars per flat event ($0.10)
HOUR_MS = 3_600_000
REFUSED_DAYS = 3  # support refusals by the wallet limit, one a day on the last days
HOLD_NANOS = 2_000_000_000


def cli(*args: str, binary: str | None = None) -> str:
    exe = binary or str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger"))
    out = subprocess.run([exe, *args], check=True, capture_output=True, text=True, timeout=300, cwd=harness.ROOT)
    return out.stdout


# The flat team's lane and model in the board's config: $1.00 per million input tokens,
# so an event's cost is what its tokens cost, as the ledger checks.
FLAT_LANE = {"id": "flat-lane", "provider": "openai", "model": "flat-model",
             "secret_key_ref": {"env": "OPENAI_API_KEY"}}
FLAT_PRICE = {"input": "1.00", "output": "1.00"}
FLAT_NANOS_PER_TOKEN = 1_000


def event(id_: str, ts_ms: int, team: str, cost: int, **extra) -> dict:
    """An event the ledger's checks pass: the flat team's cost is its input tokens at
    the flat model's price; other events here (refusals) cost 0 and carry no tokens."""
    flat = team == FLAT
    assert flat or cost == 0, "only the flat team's events are priced here"
    e = {
        "id": id_, "ts_ms": ts_ms, "consumer_group": team.removeprefix("team_"), "team": team,
        "api": "chat_completions", "provider": "openai", "lane": FLAT_LANE["id"] if flat else "openai-gpt4o-mini",
        "model_requested": "gpt-5.4-mini-mini", "model_served": FLAT_LANE["model"] if flat else "gpt-5.4-mini-mini",
        "tokens": {"input": cost // FLAT_NANOS_PER_TOKEN, "cached_input": 0, "cache_write": 0, "output": 0},
        "usage_source": "reported", "cost_nanos": cost, "outcome": "ok", "http_status": 200,
        "latency_ms": 40, "stream": False, "cache": "miss", "workflow": "steady",
    }
    e.update(extra)
    return e


def post_events(url: str, events: list[dict]) -> None:
    for i in range(0, len(events), 500):
        r = requests.post(f"{url}/v1/events", json=events[i:i + 500], headers=harness.ingest_headers(), timeout=30)
        r.raise_for_status()
        assert r.json()["accepted"] == len(events[i:i + 500]), r.text


def build(work: Path, config_path: Path) -> dict:
    data = work / "data"
    seeded = cli("seed-demo", "--data-dir", str(data), "--days", "60")
    assert "events stored" in seeded
    # Idempotent: a second run stores nothing new.
    assert ": 0 events stored" in cli("seed-demo", "--data-dir", str(data), "--days", "60")
    changed = cli("time-zone", "set", ZONE, "--actor", "e2e finance", "--data-dir", str(data))
    assert f"reporting time zone: {ZONE} (was UTC)" in changed, changed
    assert ZONE in cli("time-zone", "show", "--data-dir", str(data))
    doc = yaml.safe_load(config_path.read_text())
    doc["providers"]["targets"].append(FLAT_LANE)
    doc["pricing"]["flat-model"] = FLAT_PRICE
    doc["consumer_groups"].append({"name": "flat", "api_key": "kt_cg_flat_e2e", "wallet_team_id": FLAT})
    doc["wallets"].append({"team_id": FLAT, "initial_usd": "1000.00"})
    doc["budgets"] = [
        {"team_id": "team_support", "amount_usd": "30.00", "period": "monthly"},
        {"team_id": "team_engineering", "amount_usd": "300.00", "period": "monthly"},
    ]
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    tokens = {
        "admin": cli("tokens", "create", "--role", "admin", "--name", "e2e admin", "--data-dir", str(data)).strip(),
        "support": cli("tokens", "create", "--role", "team", "--team", "team_support", "--name", "support lead",
                       "--data-dir", str(data)).strip(),
    }
    assert all(t.startswith("tgk_") for t in tokens.values())
    proc, addr = harness.start_ledger(work, data, config=config,
                                      extra=["--require-tokens", "--lease-ttl-ms", "1500"])
    url = f"http://{addr}"
    now = int(time.time() * 1000)
    # Flat traffic: one identical event each hour, on the half hour, for 75 days.
    first = (now // HOUR_MS - 75 * 24) * HOUR_MS
    flat = [event(f"flat-{h}", h + HOUR_MS // 2, FLAT, FLAT_COST)
            for h in range(first, now - HOUR_MS // 2, HOUR_MS)]
    post_events(url, flat)
    refused = [event(f"refused-{d}", now - d * 86_400_000 - 60_000, "team_support", 0, outcome="refused",
                     http_status=402, reason="wallet_exhausted", cache="off")
               for d in range(REFUSED_DAYS)]
    post_events(url, refused + [event("paused-1", now - 120_000, "team_support", 0, outcome="refused",
                                      http_status=403, reason="paused", cache="off")])
    # An Envoy that took credit and stopped without reporting: its lease expires unclosed.
    lease = requests.post(f"{url}/v1/leases", json={"instance": "e2e-stopped-envoy", "team": "team_support",
                                                    "want_nanos": HOLD_NANOS},
                          headers=harness.ingest_headers(), timeout=10)
    assert lease.status_code == 200, lease.text
    # Its lease ends unclosed: wait until the credit is held, so every test sees one wallet.
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    held = lambda: requests.get(f"{url}/v1/wallets/team_support", headers=admin,  # noqa: E731
                                timeout=10).json()["unsettled_nanos"] == HOLD_NANOS
    assert harness.wait_until(held, timeout=30)
    browser = Browser(work)
    return {"url": url, "tokens": tokens, "browser": browser, "work": work, "proc": proc, "data": data,
            "flat_first_ms": first}


def api(board: dict, path: str, token: str | None = None, **params):
    headers = {"Authorization": f"Bearer {board['tokens'][token]}"} if token else {}
    return requests.get(board["url"] + path, params=params, headers=headers, timeout=30)


def today(board: dict) -> date:
    """Today in the reporting time zone, as the ledger says."""
    return date.fromisoformat(api(board, "/v1/session", "admin").json()["today"])


def preset_range(preset: str, day: date) -> dict:
    """What the page's presets cover (period.js `presetRange`): from, to exclusive."""
    tomorrow = day + timedelta(days=1)
    month = day.replace(day=1)
    if preset == "today":
        return {"from": day.isoformat(), "to": tomorrow.isoformat()}
    if preset == "7d":
        return {"from": (day - timedelta(days=6)).isoformat(), "to": tomorrow.isoformat()}
    if preset == "mtd":
        return {"from": month.isoformat(), "to": tomorrow.isoformat()}
    if preset == "lastmonth":
        return {"from": (month - timedelta(days=1)).replace(day=1).isoformat(), "to": month.isoformat()}
    if preset == "qtd":
        return {"from": day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1).isoformat(), "to": tomorrow.isoformat()}
    return {"from": (day - timedelta(days=29)).isoformat(), "to": tomorrow.isoformat()}


def sign_in(board: dict, token: str = "admin", hash_: str = "") -> Browser:
    b = board["browser"]
    b.sign_out()
    b.goto(f"{board['url']}/#token={board['tokens'][token]}")
    b.wait("document.body.dataset.ready")
    if hash_:
        show(b, hash_)
    return b


def show(b: Browser, hash_: str) -> None:
    """Opens the page state `hash_` (e.g. `#scope=team_support&range=mtd`) and waits
    until every card has loaded."""
    if b.eval("location.hash") == hash_ and b.eval("document.body.dataset.ready"):
        return
    before = b.eval("document.body.dataset.ready")
    b.eval(f"location.hash = {hash_!r}")
    wait_ready(b, before)


def wait_ready(b: Browser, previous: str | None = None) -> str:
    """Waits for the page's next complete render (after `previous`, if given)."""
    cond = "document.body.dataset.ready" + (f" && document.body.dataset.ready !== {previous!r}" if previous else "")
    return b.wait(cond, 40)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
