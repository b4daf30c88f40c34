"""Billing budgets are soft: crossing a threshold never blocks, fires exactly one webhook
per threshold per period (generic JSON and Slack), retries failed deliveries, shows the
forecast through the API and warns the client in a response header."""

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml

import stack as harness
from stack import wait_until
from conftest import CONFIG, KEYS


class Receiver:
    """A webhook endpoint on loopback that records deliveries; `/flaky` fails twice."""

    def __init__(self):
        self.received = []
        self.flaky_failures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path == "/flaky" and receiver.flaky_failures < 2:
                    receiver.flaky_failures += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append((self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def budget_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("budgets")
    receiver = Receiver()
    doc = yaml.safe_load(CONFIG.read_text())
    doc["pricing"]["gpt-5.4-mini-mini"] = {"input": "100", "output": "1000"}
    doc["cache"]["enabled"] = False
    doc["cost_tracking"]["lease_chunk_usd"] = "0.05"
    doc["budgets"] = [{"team_id": "team_finance", "amount_usd": "0.10", "period": "monthly"}]
    doc["alerts"] = {"webhooks": [
        {"url": f"{receiver.url}/generic/secret-token", "format": "generic"},
        {"url": f"{receiver.url}/slack", "format": "slack"},
        {"url": f"{receiver.url}/flaky", "format": "generic"},
    ]}
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work, ledger_extra=["--budget-check-ms", "200"])
    yield s, receiver
    s.stop()
    receiver.server.shutdown()


def ask(stack, n):
    return requests.post(
        f"http://{stack.envoy}/v1/chat/completions",
        headers={"authorization": f"Bearer {KEYS['finance']}"},
        json={"model": "gpt-4o-mini", "max_tokens": 24, "messages": [{"role": "user", "content": f"q{n}"}]},
        timeout=30,
    )


def test_thresholds_fire_once_each_and_never_block(budget_stack):
    stack, receiver = budget_stack
    responses = [ask(stack, n) for n in range(8)]  # about $0.026 each: well past $0.10
    assert all(r.status_code == 200 for r in responses), "a budget never blocks"
    wanted = {("actual", 50), ("actual", 80), ("actual", 100), ("forecast", 100)}

    def generic_alerts():
        return {(b["kind"], b["threshold_pct"]) for p, b in receiver.received if p.startswith("/generic")}

    assert wait_until(lambda: generic_alerts() == wanted), receiver.received
    # More traffic and more evaluations later: still exactly one delivery per threshold.
    for n in range(8, 12):
        assert ask(stack, n).status_code == 200
    time.sleep(1.5)
    generic = [b for p, b in receiver.received if p.startswith("/generic")]
    assert sorted((b["kind"], b["threshold_pct"]) for b in generic) == sorted(wanted)
    slack = [b for p, b in receiver.received if p == "/slack"]
    assert len(slack) == 4 and all("team_finance has used" in b["text"] for b in slack)
    assert all(b["team"] == "team_finance" and b["budget_usd"] == "0.10" for b in generic)


def test_failed_deliveries_are_retried_and_recorded(budget_stack):
    stack, receiver = budget_stack
    assert wait_until(lambda: len([p for p, _ in receiver.received if p == "/flaky"]) == 4, timeout=30)
    alerts = stack.ledger_get("/v1/alerts")["alerts"]
    flaky = [d for a in alerts for d in a["deliveries"] if d["target"] == receiver.url and d["attempts"] > 1]
    assert flaky and all(d["status"] == "delivered" for d in flaky)
    # Webhook URLs can carry secrets: the API shows scheme and host only.
    assert "secret-token" not in json.dumps(alerts)


def test_budget_api_has_pace_forecast_and_words(budget_stack):
    stack, _ = budget_stack
    budgets = stack.ledger_get("/v1/budgets")["budgets"]
    (b,) = budgets
    assert b["team"] == "team_finance" and b["period"] == "monthly"
    assert b["used_pct"] >= 100 and b["spent_nanos"] > b["budget_nanos"]
    f = b["forecast"]
    assert f["low_nanos"] <= f["period_end_nanos"] <= f["high_nanos"]
    assert f["period_end_nanos"] >= b["spent_nanos"]
    assert "team_finance has used" in b["summary"] and "monthly budget" in b["summary"]


def test_clients_see_the_soft_budget_state_in_a_header(budget_stack):
    stack, _ = budget_stack
    # The notice rides on credit leases (chunk $0.05 here), so a few requests suffice.
    assert wait_until(lambda: "x-tollgate-budget-warning" in ask(stack, 99).headers, timeout=20)
    r = ask(stack, 100)
    assert r.status_code == 200
    assert "of monthly budget used" in r.headers["x-tollgate-budget-warning"]


def test_finance_lowers_a_budget_through_the_api_and_its_threshold_fires(budget_stack):
    stack, receiver = budget_stack
    finance = subprocess.run(
        [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "tokens", "create", "--role", "finance",
         "--name", "finance desk", "--data-dir", str(stack.data_dir)],
        check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    r = requests.post(f"http://{stack.ledger}/v1/teams/team_engineering/budget", timeout=10,
                      headers={"Authorization": f"Bearer {finance}"},
                      json={"amount_usd": "0.02", "thresholds_pct": [50], "forecast_thresholds_pct": [],
                            "reason": "freeze after the incident"})
    assert r.status_code == 201, r.text
    assert r.json()["change"]["actor"] == "finance desk"
    assert wait_until(lambda: any(b.get("kind") == "budget_changed" and b["team"] == "team_engineering"
                                  for p, b in receiver.received if p.startswith("/generic")))
    answered = requests.post(
        f"http://{stack.envoy}/v1/chat/completions", timeout=30,
        headers={"authorization": f"Bearer {KEYS['engineering']}"},
        json={"model": "gpt-4o-mini", "max_tokens": 24, "messages": [{"role": "user", "content": "eng"}]})
    assert answered.status_code == 200
    assert wait_until(lambda: any(b.get("kind") == "actual" and b["team"] == "team_engineering"
                                  and b["threshold_pct"] == 50
                                  for p, b in receiver.received if p.startswith("/generic")), timeout=20)
    budgets = {b["team"]: b for b in stack.ledger_get("/v1/budgets")["budgets"]}
    assert budgets["team_engineering"]["budget_nanos"] == 20_000_000
