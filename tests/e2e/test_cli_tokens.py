"""The operator commands that talk to a running ledger (`wallet`, `export`) against a
ledger with its default settings (reads need a token): refused without a token (and
told how to give one), working with the token in TOLLGATE_TOKEN or --token, and a team
token may not allocate.

Binary: $TOLLGATE_LEDGER_BIN, else target/release/tollgate-ledger (`make build`).
"""

from __future__ import annotations

import os
import subprocess

import pytest
import requests

import stack as harness

H0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


def run(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TOLLGATE_TOKEN", "TOLLGATE_LEDGER_URL")}
    if token is not None:
        env["TOLLGATE_TOKEN"] = token
    return subprocess.run([str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), *args],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli-tokens")
    data = work / "data"
    admin = run("tokens", "create", "--role", "admin", "--name", "ops", "--data-dir", str(data)).stdout.strip()
    lead = run("tokens", "create", "--role", "team", "--team", "team_a", "--name", "lead",
               "--data-dir", str(data)).stdout.strip()
    assert admin.startswith("tgk_") and lead.startswith("tgk_")
    proc, addr = harness.start_ledger(work, data)  # reads need a token by default
    url = f"http://{addr}"
    try:
        # Only the data plane posts events: with its ingest token.
        event = {
            "id": "cli-1", "ts_ms": H0 + 1000, "consumer_group": "a", "team": "team_a", "api": "chat_completions",
            "provider": "openai", "lane": "openai-gpt4o-mini", "model_requested": "gpt-4o-mini",
            "model_served": "gpt-4o-mini",
            "tokens": {"input": 10, "cached_input": 0, "cache_write": 0, "output": 20},
            "usage_source": "reported", "cost_nanos": 1_234_567, "unpriced": False, "outcome": "ok",
            "http_status": 200, "latency_ms": 12, "stream": False, "cache": "miss", "cost_avoided_nanos": 0,
            "premium": False, "premium_approved": False,
        }
        for headers in ({}, harness.bearer(admin)):
            r = requests.post(f"{url}/v1/events", json=[event], headers=headers, timeout=10)
            assert r.status_code in (401, 403), r.text
        r = requests.post(f"{url}/v1/events", json=[event], headers=harness.ingest_headers(), timeout=10)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        yield {"url": url, "admin": admin, "lead": lead, "work": work}
    finally:
        proc.stop()


def test_without_a_token_the_commands_are_refused_and_say_how_to_give_one(ledger):
    for args in (["wallet", "--ledger", ledger["url"], "list"],
                 ["export", "--ledger", ledger["url"], "--from", "2026-11-01", "--to", "2026-11-02"]):
        done = run(*args)
        assert done.returncode == 1, done
        assert "401" in done.stderr and "TOLLGATE_TOKEN" in done.stderr, done.stderr


def test_the_token_from_the_environment_reads_wallets_and_exports(ledger):
    done = run("wallet", "--ledger", ledger["url"], "list", token=ledger["admin"])
    assert done.returncode == 0, done.stderr
    assert "team_a" in done.stdout
    out = ledger["work"] / "spend.csv"
    done = run("export", "--ledger", ledger["url"], "--from", "2026-11-01", "--to", "2026-11-02",
               "--out", str(out), token=ledger["admin"])
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "team_a" in text and "0.001234567" in text, text
    # The token never shows in what the command prints.
    assert ledger["admin"] not in done.stdout + done.stderr


def test_allocations_need_an_admin_or_finance_token(ledger):
    allocate = ["wallet", "--ledger", ledger["url"], "allocate", "team_a", "--usd", "5.00",
                "--reason", "e2e", "--actor", "tester"]
    done = run(*allocate, "--token", ledger["lead"])
    assert done.returncode == 1 and "403" in done.stderr, done.stderr
    done = run(*allocate, "--token", ledger["admin"])
    assert done.returncode == 0, done.stderr
    wallet = requests.get(f"{ledger['url']}/v1/wallets/team_a", timeout=10,
                          headers={"Authorization": f"Bearer {ledger['admin']}"}).json()
    assert wallet["allocated_nanos"] == 5_000_000_000
