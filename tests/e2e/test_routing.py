"""Provider lanes: strategies, fallback on 429/5xx before the client sees an error,
cooldown of failing lanes, premium lanes and approved workflows."""

import time

import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS


def routing_config(work, strategy, failures_to_cool_down=100):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["providers"]["routing"] = {"strategy": strategy, "max_attempts": 2,
                                   "failures_to_cool_down": failures_to_cool_down,
                                   "cooldown_seconds": 60}
    doc["providers"]["targets"] = [
        {"id": "primary", "provider": "openai", "model": "gpt-4o-mini", "priority": 0, "weight": 1,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "premium", "provider": "openai", "model": "gpt-4o", "priority": 1, "weight": 1, "premium": True,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "anthropic-haiku", "provider": "anthropic", "model": "claude-haiku",
         "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}},
    ]
    for g in doc["consumer_groups"]:
        if g["name"] == "support":
            g["premium_workflows"] = ["escalation"]
            g["workflow_lanes"] = {"pinned": ["primary"]}
    config = work / f"{strategy}.yaml"
    config.write_text(yaml.safe_dump(doc))
    return config


@pytest.fixture(scope="module")
def priority_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("routing-priority")
    s = harness.start_stack(routing_config(work, "priority"), work)
    yield s
    s.stop()


def chat(stack, headers=None, content="route me", stream=False):
    body = {"model": "any-model", "messages": [{"role": "user", "content": content}], "stream": stream}
    return requests.post(f"http://{stack.envoy}/v1/chat/completions", json=body, timeout=30,
                         headers={"authorization": f"Bearer {KEYS['support']}", **(headers or {})})


def test_priority_serves_the_first_lane(priority_stack):
    r = chat(priority_stack)
    assert r.status_code == 200 and r.headers["x-tollgate-lane"] == "primary"
    event = priority_stack.wait_for_event(r.headers["x-tollgate-request-id"])
    assert event["model_requested"] == "any-model" and event["model_served"] == "gpt-4o-mini"


@pytest.mark.parametrize("error", ["429", "500"])
def test_fallback_answers_from_the_next_lane_and_accounts_every_attempt(priority_stack, error):
    client = openai.OpenAI(base_url=priority_stack.openai_base_url, api_key=KEYS["support"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="any-model", messages=[{"role": "user", "content": f"fail over {error}"}],
        extra_headers={"x-sim-error": error, "x-tollgate-workflow": "drafting"})
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert raw.headers["x-tollgate-lane"] == "premium"
    request_id = raw.headers["x-tollgate-request-id"]
    final = priority_stack.wait_for_event(request_id)
    failed = priority_stack.wait_for_event(f"{request_id}-attempt1")
    assert failed["lane"] == "primary" and failed["http_status"] == int(error)
    assert failed["outcome"] == "provider_error" and failed["cost_nanos"] == 0
    assert final["lane"] == "premium" and final["outcome"] == "ok" and final["cost_nanos"] > 0
    assert final["tokens"]["output"] == completion.usage.completion_tokens
    # Premium lane used by a workflow not approved for it: premium drift.
    assert final["premium"] is True and final["premium_approved"] is False


def test_workflow_policy_limits_the_lanes(priority_stack):
    # The "pinned" workflow may only use the primary lane: no fallback to premium.
    r = chat(priority_stack, {"x-sim-error": "500", "x-tollgate-workflow": "pinned"}, content="pinned")
    assert r.status_code == 500 and r.headers["x-tollgate-lane"] == "primary"


def test_streamed_requests_fall_back_too(priority_stack):
    client = openai.OpenAI(base_url=priority_stack.openai_base_url, api_key=KEYS["support"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="any-model", messages=[{"role": "user", "content": "stream fail over"}], stream=True,
        extra_headers={"x-sim-error": "500", "x-tollgate-workflow": "escalation"})
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert raw.headers["x-tollgate-lane"] == "premium"
    final = priority_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert final["stream"] is True and final["tokens"]["output"] > 0
    assert final["premium"] is True and final["premium_approved"] is True


def test_a_failing_lane_cools_down(tmp_path_factory):
    work = tmp_path_factory.mktemp("routing-cooldown")
    s = harness.start_stack(routing_config(work, "priority", failures_to_cool_down=3), work)
    try:
        for i in range(3):
            r = chat(s, {"x-sim-error": "503"}, content=f"cool {i}")
            assert r.status_code == 200 and r.headers["x-tollgate-lane"] == "premium"
        # The primary failed 3 times in a row: it is skipped for the cooldown, so a
        # request now goes straight to the next lane, with no failed attempt.
        r = chat(s, {"x-sim-error": "503"}, content="after cooldown")
        assert r.status_code == 503 and r.headers["x-tollgate-lane"] == "premium"
        event = s.wait_for_event(r.headers["x-tollgate-request-id"])
        assert event["lane"] == "premium"
        assert not any(e["id"].endswith("-attempt1") and e["id"].startswith(event["id"]) for e in s.events())
    finally:
        s.stop()


def test_weighted_strategy_spreads_traffic_and_the_ledger_shows_the_mix(tmp_path_factory):
    work = tmp_path_factory.mktemp("routing-weighted")
    s = harness.start_stack(routing_config(work, "weighted"), work)
    try:
        lanes = [chat(s, content=f"w{i}").headers["x-tollgate-lane"] for i in range(40)]
        assert set(lanes) == {"primary", "premium"}
        mix = {}
        deadline = time.time() + 15
        while time.time() < deadline:
            rows = s.ledger_get("/v1/spend", group_by="lane")["rows"]
            mix = {row["key"]["lane"]: row["requests"] for row in rows}
            if sum(mix.values()) >= 40:
                break
            time.sleep(0.2)
        assert mix == {"primary": lanes.count("primary"), "premium": lanes.count("premium")}
    finally:
        s.stop()
