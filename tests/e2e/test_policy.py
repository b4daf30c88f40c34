"""Leaders' runtime policy through the real stack: a change posted to the ledger reaches
Envoy within its poll interval and changes what the official SDKs see: a paused
workflow is refused with a provider-style 403 naming the pause, a premium restriction
moves a drifting workflow to an ordinary lane, and lifting restores service."""

import subprocess
import time
import uuid

import anthropic
import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS


def cli(*args: str) -> str:
    out = subprocess.run([str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), *args],
                         check=True, capture_output=True, text=True, timeout=120, cwd=harness.ROOT)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def policy_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("policy")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["providers"]["routing"] = {"strategy": "priority"}
    doc["providers"]["targets"] = [
        {"id": "premium", "provider": "openai", "model": "gpt-4o", "priority": 0, "premium": True,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "ordinary", "provider": "openai", "model": "gpt-4o-mini", "priority": 1,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
    ]
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    data = work / "data"
    tokens = {
        "finance": cli("tokens", "create", "--role", "finance", "--name", "finance desk", "--data-dir", str(data)),
        "support": cli("tokens", "create", "--role", "team", "--team", "team_support", "--name", "support lead",
                       "--data-dir", str(data)),
    }
    s = harness.start_stack(config, work, data_dir=data)
    s.tokens = tokens
    yield s
    s.stop()


def change(stack, team: str, token: str, body: dict) -> requests.Response:
    return requests.post(f"http://{stack.ledger}/v1/teams/{team}/policy", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {stack.tokens[token]}"})


def client(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)


def ask(stack, workflow: str):
    return client(stack).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": f"policy {uuid.uuid4()}"}],
        extra_headers={"x-tollgate-workflow": workflow})


def until(predicate, timeout: float = 10.0):
    """Polls `predicate` until it returns a truthy value; returns it and the seconds it took."""
    start = time.monotonic()
    while True:
        value = predicate()
        if value or time.monotonic() - start > timeout:
            return value, time.monotonic() - start
        time.sleep(0.05)


def refused(stack, workflow: str):
    try:
        ask(stack, workflow)
        return None
    except openai.PermissionDeniedError as e:
        return e


def test_a_paused_workflow_is_refused_by_envoy_within_the_poll_interval_and_lifting_restores_it(policy_stack):
    assert ask(policy_stack, "bulk-import").parse().choices[0].message.content
    r = change(policy_stack, "team_support", "support", {
        "change": "pause", "scope": {"kind": "workflow", "value": "bulk-import"},
        "reason": "runaway retry loop", "idempotency_key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    pause_id = r.json()["change"]["id"]

    error, took = until(lambda: refused(policy_stack, "bulk-import"))
    assert error is not None, "the pause never reached Envoy"
    # One poll interval (1 s) plus a worker tick, with slack for a loaded machine.
    assert took < 5, took
    assert error.status_code == 403
    body = error.response.json()
    assert body["error"]["code"] == "paused"
    assert f"pause #{pause_id}, by support lead" in body["error"]["message"]
    assert "runaway retry loop" in body["error"]["message"]
    # The Anthropic SDK gets the same refusal in its own shape.
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        anthropic.Anthropic(base_url=policy_stack.anthropic_base_url, api_key=KEYS["support"],
                            max_retries=0).messages.create(
            model="gpt-4o", max_tokens=16, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-tollgate-workflow": "bulk-import"})
    assert caught.value.response.json()["error"]["type"] == "permission_error"
    # Other workflows and teams are served.
    assert ask(policy_stack, "draft-reply").parse().choices[0].message.content

    r = change(policy_stack, "team_support", "support",
               {"change": "lift", "pause_id": pause_id, "reason": "loop fixed"})
    assert r.status_code == 201, r.text
    served, _ = until(lambda: refused(policy_stack, "bulk-import") is None)
    assert served, "lifting the pause did not restore service"

    history = requests.get(f"http://{policy_stack.ledger}/v1/teams/team_support/policy", timeout=10,
                           headers={"Authorization": f"Bearer {policy_stack.tokens['support']}"}).json()
    assert [c["change"]["change"] for c in history["changes"][:2]] == ["lift", "pause"]
    assert {c["actor"] for c in history["changes"][:2]} == {"support lead"}


def test_a_premium_restriction_moves_drifting_workflows_to_the_ordinary_lane(policy_stack):
    raw = ask(policy_stack, "ticket-summarise")
    assert raw.headers["x-tollgate-lane"] == "premium"
    r = change(policy_stack, "team_support", "finance", {
        "change": "restrict_premium", "allowed_workflows": ["escalation"], "action": "downgrade",
        "reason": "premium drift on ticket-summarise"})
    assert r.status_code == 201, r.text

    lane, _ = until(lambda: ask(policy_stack, "ticket-summarise").headers["x-tollgate-lane"] == "ordinary")
    assert lane, "the restriction never reached Envoy"
    raw = ask(policy_stack, "ticket-summarise")
    event = policy_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["lane"] == "ordinary" and event["premium"] is False
    assert ask(policy_stack, "escalation").headers["x-tollgate-lane"] == "premium"

    # Another team's traffic is untouched.
    other = openai.OpenAI(base_url=policy_stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    raw = other.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-tollgate-workflow": "ticket-summarise"})
    assert raw.headers["x-tollgate-lane"] == "premium"

    r = change(policy_stack, "team_support", "finance",
               {"change": "lift_premium_restriction", "reason": "drift reviewed"})
    assert r.status_code == 201, r.text
    back, _ = until(lambda: ask(policy_stack, "ticket-summarise").headers["x-tollgate-lane"] == "premium")
    assert back


def test_a_team_token_cannot_change_another_team(policy_stack):
    r = change(policy_stack, "team_engineering", "support", {
        "change": "pause", "scope": {"kind": "team"}, "reason": "not mine"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = requests.post(f"http://{policy_stack.ledger}/v1/teams/team_support/policy", timeout=10,
                      json={"change": "pause", "scope": {"kind": "team"}, "reason": "no token"})
    assert r.status_code == 401
