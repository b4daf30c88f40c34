"""An allocation request end to end: a team at its wallet limit is refused by Envoy
(402, before any provider call), its leader asks for more with the ledger's evidence,
finance approves, and the same official-SDK request then succeeds."""

import subprocess
import time
import uuid

import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS

USD = 1_000_000_000


def cli(*args: str) -> str:
    out = subprocess.run([str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), *args],
                         check=True, capture_output=True, text=True, timeout=120, cwd=harness.ROOT)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def small_wallet(tmp_path_factory):
    work = tmp_path_factory.mktemp("allocation-requests")
    doc = yaml.safe_load(CONFIG.read_text())
    # Expensive prices so a small wallet runs out in a few requests.
    doc["pricing"]["gpt-5.4-mini-mini"] = {"input": "100", "cached_input": "10", "output": "1000"}
    doc["cache"]["enabled"] = False
    for w in doc["wallets"]:
        if w["team_id"] == "team_support":
            w["initial_usd"] = "0.30"
    doc["cost_tracking"]["lease_chunk_usd"] = "0.10"
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    data = work / "data"
    tokens = {
        "lead": cli("tokens", "create", "--role", "team", "--team", "team_support", "--name", "support lead",
                    "--data-dir", str(data)),
        "finance": cli("tokens", "create", "--role", "finance", "--name", "finance desk", "--data-dir", str(data)),
    }
    s = harness.start_stack(config, work, data_dir=data, ledger_extra=["--lease-ttl-ms", "3000"])
    s.tokens = tokens
    yield s
    s.stop()


def post(stack, path: str, token: str, body: dict) -> requests.Response:
    return requests.post(f"http://{stack.ledger}{path}", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {stack.tokens[token]}"})


def test_a_refused_team_asks_finance_approves_and_the_same_request_succeeds(small_wallet):
    stack = small_wallet
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)

    def ask():
        return client.chat.completions.create(
            model="gpt-4o-mini", max_tokens=24,
            messages=[{"role": "user", "content": "summarise ticket 4411"}],
            extra_headers={"x-tollgate-workflow": "ticket-summarise"})

    refusal = None
    for _ in range(200):
        try:
            ask()
        except openai.APIStatusError as e:
            refusal = e
            break
    assert refusal is not None, "the wallet never ran out"
    assert refusal.status_code == 402
    assert refusal.response.json()["error"]["code"] == "wallet_exhausted"
    # The spend so far has reached the ledger (events flush every second).
    assert harness.wait_until(lambda: len(stack.events(team="team_support")) >= 2)

    r = post(stack, "/v1/teams/team_support/allocation-requests", "lead",
             {"amount_usd": "5.00", "reason": "ticket backlog after the outage",
              "idempotency_key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    request = r.json()["request"]
    evidence = request["evidence"]
    # The evidence shows why the team is here: the wallet is spent.
    assert evidence["wallet"]["available_nanos"] < 10 * 1_000_000
    assert evidence["period"]["spent_nanos"] > 0
    assert evidence["lanes"] and evidence["summary"].startswith("team_support spent $")

    # Still refused while the request waits.
    with pytest.raises(openai.APIStatusError) as still:
        ask()
    assert still.value.status_code == 402

    r = post(stack, f"/v1/teams/team_support/allocation-requests/{request['id']}/decision", "finance",
             {"decision": "approve", "amount_usd": "2.00", "comment": "2 now; the rest after review"})
    assert r.status_code == 200, r.text
    assert r.json()["wallet"]["allocated_nanos"] == int(2.30 * USD)

    deadline = time.monotonic() + 15
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = ask()
            break
        except openai.APIStatusError as e:
            assert e.status_code == 402
            time.sleep(0.2)
    assert answer is not None, "the approval never reached Envoy"
    assert answer.choices[0].message.content

    history = requests.get(f"http://{stack.ledger}/v1/teams/team_support/allocation-requests", timeout=10,
                           headers={"Authorization": f"Bearer {stack.tokens['lead']}"}).json()["requests"]
    assert history[0]["status"] == "approved" and history[0]["decided_by"] == "finance desk"
    assert history[0]["approved_nanos"] == 2 * USD
