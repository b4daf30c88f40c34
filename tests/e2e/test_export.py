"""Finance exports end to end: the real `tollgate-ledger serve`, events posted over HTTP,
then the `tollgate-ledger export` CLI streaming CSV, JSON Lines and FOCUS files whose
totals must equal `/v1/spend` for the same period and scope, to the nanodollar.

Binary: $TOLLGATE_LEDGER_BIN, else target/release/tollgate-ledger (`make build`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import selectors
import signal
import subprocess
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import requests

import stack as harness

H0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
HOUR = 3_600_000
DAY = 24 * HOUR
FROM = "2026-10-30T06:00:00Z"
TO = "2026-11-02T18:00:00Z"

# Micro-dollars per million tokens (the ledger's built-in list prices).
PRICES = {
    "gpt-4o-mini": {"input": 150_000, "cached_input": 75_000, "cache_write": 150_000, "output": 600_000},
    "claude-3-5-haiku": {"input": 800_000, "cached_input": 80_000, "cache_write": 1_000_000, "output": 4_000_000},
}
KINDS = ("input", "cached_input", "cache_write", "output")


def ledger_bin() -> Path:
    return harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")


class Ledger:
    """One `tollgate-ledger serve` on a free loopback port; stopped by its PID."""

    def __init__(self, data_dir: Path, log_path: Path):
        self.log_path = log_path
        # Reads need a token: an admin one, made on the store before the ledger starts.
        self.admin = harness.create_token("admin", data_dir=data_dir)
        self.proc = subprocess.Popen(
            [str(ledger_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
             "--ingest-token-file", str(harness.ingest_token_file())],
            stdout=subprocess.PIPE,
            stderr=open(log_path, "ab"),
        )
        self.base = f"http://{self._read_address(timeout=20.0)}"

    def _read_address(self, timeout: float) -> str:
        marker = "tollgate-ledger listening on http://"
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.2):
                if self.proc.poll() is not None:
                    break
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines(keepends=True):
                if line.startswith(marker) and line.endswith("\n"):
                    return line[len(marker):].strip()
        self.kill()
        raise RuntimeError(f"ledger did not announce its address; stdout={buf!r}\n{self.log_path.read_text()}")

    def spend(self, **params) -> dict:
        r = requests.get(f"{self.base}/v1/spend", params=params, headers=harness.bearer(self.admin), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path / "data", tmp_path / "ledger.log")
    yield led
    led.kill()


def list_cost(model: str, tokens: dict) -> int:
    picos = sum(tokens[k] * PRICES[model][k] for k in KINDS)
    return (picos + 500) // 1000


def dataset() -> list[dict]:
    """1500 events over four days across a month boundary, with awkward numbers: odd
    token counts, list-price costs, drifted costs, cache hits (cost 0, cost avoided),
    refusals without provider, events on and just before hour and day boundaries."""
    rng = random.Random(7)
    events = []
    for i in range(1500):
        ts = [H0, H0 - 1, H0 + HOUR - 1, H0 - DAY][i] if i < 4 else H0 - 2 * DAY + rng.randrange(4 * DAY)
        team = rng.choice(["team_a", "team_b", "team_c"])
        provider, model, api = rng.choice([
            ("openai", "gpt-4o-mini", "chat_completions"),
            ("anthropic", "claude-3-5-haiku", "messages"),
        ])
        tokens = {
            "input": rng.choice([0, 1, 7, rng.randrange(1, 3_000_000)]),
            "cached_input": rng.choice([0, rng.randrange(1, 999_983)]),
            "cache_write": rng.randrange(0, 50_000) if provider == "anthropic" else 0,
            "output": rng.randrange(0, 400_000),
        }
        e = {
            "id": f"x-{i:05d}",
            "ts_ms": ts,
            "consumer_group": rng.choice(["support", "eng"]),
            "team": team,
            "api": api,
            "provider": provider,
            "lane": f"{provider}-{rng.choice(['main', 'spare'])}",
            "model_requested": model,
            "model_served": model,
            "tokens": tokens,
            "usage_source": "reported",
            "cost_nanos": list_cost(model, tokens),
            "outcome": "ok",
            "http_status": 200,
            "latency_ms": rng.randrange(5, 900),
            "stream": rng.random() < 0.5,
            "cache": "miss",
        }
        roll = rng.randrange(8)
        if roll == 0:  # the filter charged other prices than the ledger knows
            e["cost_nanos"] += rng.randrange(1, 999_999_999)
        elif roll == 1:  # a cache hit
            e["cache"] = "hit"
            e["cost_avoided_nanos"] = e["cost_nanos"]
            e["cost_nanos"] = 0
        elif roll == 2:  # refused before a lane was chosen
            del e["provider"], e["lane"]
            e.update(outcome="refused", http_status=402, usage_source="none", cost_nanos=0,
                     tokens={k: 0 for k in KINDS})
        events.append(e)
    return events


def run_export(ledger: Ledger, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ledger_bin()), "export", "--ledger", ledger.base, "--token", ledger.admin, "--from", FROM, "--to", TO,
         *args],
        capture_output=True,
        timeout=60,
    )


def nanos(usd: str) -> int:
    value = Decimal(usd) * 1_000_000_000
    assert value == value.to_integral_value(), f"{usd} has sub-nanodollar digits"
    return int(value)


def rows(fmt: str, text: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text)))


def totals(grain: str, fmt: str, text: str) -> tuple[dict, dict]:
    """Cost per team and per (day or month, team) from an export's rows."""
    by_team, by_period = defaultdict(int), defaultdict(int)
    cut = 7 if grain == "month" else 10
    for r in rows(fmt, text):
        if fmt == "focus":
            cost = nanos(r["BilledCost"])
            assert nanos(r["EffectiveCost"]) == nanos(r["ListCost"]) == nanos(r["ContractedCost"]) == cost
            team, period = r["SubAccountId"], r["ChargePeriodStart"][:cut]
        else:
            cost = int(r["cost_nanos"])
            assert nanos(r["cost_usd"]) == cost
            team = r["team"]
            period = (r["ts"] if grain == "request" else r["period_start"])[:cut]
        by_team[team] += cost
        by_period[(period, team)] += cost
    return dict(by_team), dict(by_period)


def test_cli_exports_reconcile_with_spend_to_the_nanodollar(ledger, tmp_path):
    events = dataset()
    for i in range(0, len(events), 400):
        r = requests.post(f"{ledger.base}/v1/events", json=events[i:i + 400], headers=harness.ingest_headers(),
                          timeout=10)
        assert r.status_code == 200 and r.json()["rejected"] == [], r.text

    spend_team = {r["key"]["team"]: r["cost_nanos"] for r in ledger.spend(**{"from": FROM, "to": TO, "group_by": "team"})["rows"]}
    spend_day = {(r["key"]["day"], r["key"]["team"]): r["cost_nanos"]
                 for r in ledger.spend(**{"from": FROM, "to": TO, "group_by": "day,team"})["rows"]}
    spend_month = {}
    for month, lo, hi in [("2026-10", FROM, "2026-11-01T00:00:00Z"), ("2026-11", "2026-11-01T00:00:00Z", TO)]:
        for r in ledger.spend(**{"from": lo, "to": hi, "group_by": "team"})["rows"]:
            spend_month[(month, r["key"]["team"])] = r["cost_nanos"]
    total = ledger.spend(**{"from": FROM, "to": TO})["total"]["cost_nanos"]
    assert total == sum(spend_team.values()) > 10**9

    def nonzero(d):
        return {k: v for k, v in d.items() if v}

    for grain, fmt in [("request", "csv"), ("request", "jsonl"), ("day", "csv"), ("day", "jsonl"),
                       ("month", "csv"), ("month", "jsonl"), ("day", "focus"), ("month", "focus")]:
        out = tmp_path / f"export-{grain}.{fmt}"
        done = run_export(ledger, "--grain", grain, "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr.decode()
        assert out.exists() and not Path(f"{out}.partial").exists()
        assert b"wrote" in done.stderr
        by_team, by_period = totals(grain, fmt, out.read_text())
        assert sum(by_team.values()) == total, f"{grain}/{fmt}"
        assert nonzero(by_team) == nonzero(spend_team), f"{grain}/{fmt}"
        expected = spend_month if grain == "month" else spend_day
        assert nonzero(by_period) == nonzero(expected), f"{grain}/{fmt}"

    # One team, to stdout.
    done = run_export(ledger, "--grain", "day", "--format", "focus", "--team", "team_b")
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    header = text.splitlines()[0].split(",")
    for column in ["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart", "ChargeCategory",
                   "ChargePeriodStart", "ChargePeriodEnd", "ConsumedQuantity", "ConsumedUnit", "EffectiveCost",
                   "ListCost", "ListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "ServiceCategory",
                   "SubAccountId", "Tags", "x_Lane", "x_CacheStatus", "x_CostAvoided"]:
        assert column in header, column
    by_team, _ = totals("day", "focus", text)
    assert by_team == {"team_b": spend_team["team_b"]}
    for r in rows("focus", text):
        assert r["ChargeCategory"] == "Usage" and r["ServiceCategory"] == "AI and Machine Learning"
        assert r["ChargePeriodStart"].endswith("Z") and r["BillingCurrency"] == "USD"
        assert json.loads(r["Tags"])["tollgate/team"] == "team_b"


def test_cli_reports_a_refused_export_and_writes_nothing(ledger, tmp_path):
    out = tmp_path / "focus.csv"
    done = run_export(ledger, "--grain", "request", "--format", "focus", "--out", str(out))
    assert done.returncode != 0
    assert "grain=day or grain=month" in done.stderr.decode()
    assert not out.exists() and not Path(f"{out}.partial").exists()

    # An unreachable ledger is an error too, not an empty file.
    ledger.kill()
    done = run_export(ledger, "--grain", "day", "--out", str(out))
    assert done.returncode != 0 and "cannot reach the ledger" in done.stderr.decode()
    assert not out.exists()
