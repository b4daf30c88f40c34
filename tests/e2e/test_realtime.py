"""OpenAI Realtime sessions over WebSocket through the real Envoy, with
`other_endpoints.realtime: passthrough`: the upgrade is attributed to the team, sent
with the lane's credential, and each session is one cost event with the usage of
every `response.done`, priced when its model has a price and otherwise shown
unpriced. Refused by default, like every endpoint Tollgate does not govern."""

import json
import time
from decimal import Decimal

import openai
import pytest
import yaml
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import stack as harness
from conftest import CONFIG, KEYS, expected_cost_nanos

# Per million tokens, as the operator configured it for the priced model.
PRICED_MODEL = "gpt-realtime-mini"
PRICED = {"input": "0.60", "cached_input": "0.06", "output": "2.40"}


def micro(usd: str) -> int:
    return int(Decimal(usd) * 1_000_000)


@pytest.fixture(scope="module")
def realtime_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("realtime")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["other_endpoints"] = {"realtime": "passthrough"}
    doc["pricing"][PRICED_MODEL] = PRICED
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


def ws_url(stack, model: str) -> str:
    return f"ws://{stack.envoy}/v1/realtime?model={model}"


def session(stack, model: str, key=KEYS["support"], responses=2, modalities=("text",)):
    """One session: session.created, then `responses` response.create events, each
    answered through response.done. Returns the request id and the usage of every
    response.done the client received."""
    usages = []
    with connect(ws_url(stack, model), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        request_id = ws.response.headers["x-tollgate-request-id"]
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "session.created"
        assert first["session"]["model"] == model
        for _ in range(responses):
            ws.send(json.dumps({"type": "response.create",
                                "response": {"output_modalities": list(modalities)}}))
            text = ""
            while True:
                event = json.loads(ws.recv(timeout=10))
                if event["type"] == "response.output_text.delta":
                    text += event["delta"]
                if event["type"] == "response.done":
                    usages.append(event["response"]["usage"])
                    break
            assert text
    return request_id, usages


def summed(usages) -> dict:
    cached = sum(u["input_token_details"]["cached_tokens"] for u in usages)
    return {
        "input": sum(u["input_tokens"] for u in usages) - cached,
        "cached_input": cached,
        "cache_write": 0,
        "output": sum(u["output_tokens"] for u in usages),
    }


def test_a_session_is_one_event_for_the_team_with_every_responses_usage(realtime_stack):
    stack = realtime_stack
    request_id, usages = session(stack, "gpt-realtime")
    assert len(usages) == 2 and usages[1]["input_token_details"]["cached_tokens"] > 0
    # The provider saw the lane's key, never the team's.
    last = stack.sim_get("/_sim/last")
    assert last["path"] == "/v1/realtime" and last["headers"]["authorization"] == "ok"
    assert last["headers"]["upgrade"].lower() == "websocket"
    event = stack.wait_for_event(request_id)
    assert (event["api"], event["outcome"], event["http_status"]) == ("passthrough", "ok", 101)
    assert event["team"] == "team_support" and event["provider"] == "openai"
    want = summed(usages)
    assert {k: event["tokens"][k] for k in want} == want
    # No price for the realtime model: recorded with its tokens, flagged, not hidden.
    assert event["model_served"] == "gpt-realtime"
    assert event["unpriced"] is True and event["cost_nanos"] == 0
    assert len([e for e in stack.events(team="team_support") if e["id"] == request_id]) == 1


def test_a_session_of_a_priced_model_is_priced_and_audio_is_unpriced(realtime_stack):
    stack = realtime_stack
    request_id, usages = session(stack, PRICED_MODEL)
    event = stack.wait_for_event(request_id)
    price = {k: micro(v) for k, v in PRICED.items()} | {"cache_write": 0}
    assert event["unpriced"] is False
    assert event["cost_nanos"] == expected_cost_nanos(price, summed(usages)) > 0
    # Prices have no audio rates: audio output is counted but not priced at text rates.
    request_id, usages = session(stack, PRICED_MODEL, responses=1, modalities=("audio",))
    assert usages[0]["output_token_details"]["audio_tokens"] > 0
    event = stack.wait_for_event(request_id)
    assert event["tokens"]["output"] == usages[0]["output_tokens"]
    assert event["unpriced"] is True and event["cost_nanos"] == 0


def test_the_openai_sdks_realtime_client_works_through_the_gateway(realtime_stack):
    stack = realtime_stack
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    with client.realtime.connect(model="gpt-realtime", max_retries=0) as conn:
        assert conn.recv().type == "session.created"
        conn.response.create(response={"output_modalities": ["text"]})
        done = None
        for event in conn:
            if event.type == "response.done":
                done = event
                break
    assert done is not None and done.response.usage.output_tokens > 0
    deadline = time.time() + 15
    while time.time() < deadline:
        events = [e for e in stack.events(team="team_engineering") if e["api"] == "passthrough"]
        if events:
            break
        time.sleep(0.1)
    assert len(events) == 1, "the SDK's session is recorded once, for its team"
    assert events[0]["tokens"]["output"] == done.response.usage.output_tokens


def test_unknown_keys_are_refused_before_the_upgrade(realtime_stack):
    before = sum(realtime_stack.sim_get("/_sim/stats")["requests"].values())
    with pytest.raises(InvalidStatus) as e:
        connect(ws_url(realtime_stack, "gpt-realtime"), additional_headers={"Authorization": "Bearer kt_nobody"})
    assert e.value.response.status_code == 401
    assert json.loads(e.value.response.body)["error"]["code"] == "invalid_api_key"
    assert sum(realtime_stack.sim_get("/_sim/stats")["requests"].values()) == before


def test_realtime_is_refused_by_default(stack):
    # Without `realtime: passthrough` the filter refuses the handshake as it refuses any
    # endpoint it does not serve: a 404 in OpenAI's error shape, nothing sent upstream.
    before = sum(stack.sim_get("/_sim/stats")["requests"].values())
    with pytest.raises(InvalidStatus) as e:
        connect(ws_url(stack, "gpt-realtime"), additional_headers={"Authorization": f"Bearer {KEYS['support']}"})
    assert e.value.response.status_code == 404
    error = json.loads(e.value.response.body)["error"]
    assert error["message"] and error["type"], error
    assert sum(stack.sim_get("/_sim/stats")["requests"].values()) == before
