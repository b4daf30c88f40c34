"""Amazon Bedrock lanes (Converse API) through the real Envoy: unchanged OpenAI and
Anthropic SDK clients translated to Converse and back, JSON and streamed, every request
signed with AWS Signature Version 4 inside the filter and verified by the simulator.

The simulator itself is first checked with AWS's own SDK (boto3): its signature check
accepts what boto3 signs and refuses a wrong secret, and boto3 reads its JSON answers and
event-stream framing, so a pass through Envoy means the filter signs and reads Bedrock's
wire format as AWS does."""

import json
import os
import uuid
from decimal import Decimal

import anthropic
import boto3
import botocore.config
import botocore.exceptions
import openai
import pytest
import yaml

import stack as harness
from conftest import CONFIG, KEYS, expected_cost_nanos

NOVA = "amazon.nova-lite-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
# Built-in catalogue rates (aws.amazon.com/bedrock/pricing), micro-dollars per million
# tokens, in the shape `expected_cost_nanos` takes.
NOVA_PRICE = {"input": 60_000, "cached_input": 15_000, "cache_write": 60_000, "output": 240_000}
HAIKU_PRICE = {"input": 800_000, "cached_input": 80_000, "cache_write": 1_000_000, "output": 4_000_000}
WRONG_SECRET_ENV = "TOLLGATE_TEST_BEDROCK_WRONG_SECRET"


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def sim_tokens(text: str) -> int:
    """The simulator's input rule: a token per 4 UTF-8 bytes, rounded up, at least 1."""
    return max(1, -(-len(text.encode()) // 4))


def bedrock_lane(lane_id: str, model: str, secret_env: str = "AWS_SECRET_ACCESS_KEY", priority: int = 0) -> dict:
    return {"id": lane_id, "provider": "bedrock", "model": model, "priority": priority,
            "secret_key_ref": {"env": secret_env},
            "aws": {"region": "us-east-1", "access_key_id_ref": {"env": "AWS_ACCESS_KEY_ID"}}}


@pytest.fixture(scope="module")
def bedrock_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("bedrock")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["providers"]["routing"] = {
        "strategy": "priority", "max_attempts": 2, "failures_to_cool_down": 100,
        "aliases": {"nova-or-gpt": ["nova", "openai-gpt4o-mini"],
                    "nova-or-claude": ["nova", "anthropic-haiku"],
                    "nova-badkey": ["nova-badkey"]},
    }
    for i, t in enumerate(doc["providers"]["targets"]):
        t["priority"] = 10 + i
    doc["providers"]["targets"] += [
        bedrock_lane("nova", NOVA),
        bedrock_lane("haiku-bedrock", HAIKU),
        bedrock_lane("nova-badkey", NOVA_MICRO, secret_env=WRONG_SECRET_ENV),
    ]
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    os.environ[WRONG_SECRET_ENV] = "not-the-secret"
    try:
        s = harness.start_stack(config, work)
    finally:
        os.environ.pop(WRONG_SECRET_ENV, None)
    yield s
    s.stop()


def bedrock_client(endpoint: str, secret: str = harness.SIM_AWS_SECRET_ACCESS_KEY):
    return boto3.client(
        "bedrock-runtime", endpoint_url=f"http://{endpoint}", region_name="us-east-1",
        aws_access_key_id=harness.SIM_AWS_ACCESS_KEY_ID, aws_secret_access_key=secret,
        aws_session_token="sim-session-token",
        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_boto3_accepts_the_simulators_converse_and_stream_and_its_signature_check(bedrock_stack):
    client = bedrock_client(bedrock_stack.simulator)
    prompt = unique("Hello from boto3")
    messages = [{"role": "user", "content": [{"text": prompt}]}]
    answer = client.converse(modelId=NOVA, messages=messages, inferenceConfig={"maxTokens": 8})
    assert answer["output"]["message"]["content"][0]["text"].startswith(f"Simulated answer from {NOVA}")
    assert answer["stopReason"] == "max_tokens"
    assert answer["usage"]["inputTokens"] == sim_tokens(prompt)
    assert answer["usage"]["outputTokens"] == 8
    last = bedrock_stack.sim_get("/_sim/last")
    assert last["path"] == "/model/{model_id}/converse"
    assert last["headers"]["x-amz-security-token"] == "redacted"

    events = list(client.converse_stream(modelId=NOVA, messages=messages)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text.startswith(f"Simulated answer from {NOVA}") and len(text.split()) == 24
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 24

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        bedrock_client(bedrock_stack.simulator, secret="wrong").converse(modelId=NOVA, messages=messages)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"

    def throttle(request, **_):
        request.headers["x-sim-error"] = "429"

    client.meta.events.register("before-sign.bedrock-runtime.Converse", throttle)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=NOVA, messages=messages)


def oai(stack):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)


def ant(stack):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)


def test_openai_client_on_a_bedrock_lane(bedrock_stack):
    prompt = unique("Converse for an OpenAI client")
    raw = oai(bedrock_stack).chat.completions.with_raw_response.create(
        model=NOVA, max_tokens=50, messages=[{"role": "system", "content": "Be terse."},
                                             {"role": "user", "content": prompt}],
        extra_headers={"x-sim-cached-tokens": "2"})
    completion = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "nova"
    assert completion.object == "chat.completion" and completion.model == NOVA
    assert completion.choices[0].message.content.startswith(f"Simulated answer from {NOVA}")
    assert completion.choices[0].finish_reason == "stop"

    # What reached Bedrock: a Converse body (no model, no stream) signed for bedrock.
    last = bedrock_stack.sim_get("/_sim/last")
    assert last["path"] == "/model/{model_id}/converse"
    assert last["body"]["system"] == [{"text": "Be terse."}]
    assert last["body"]["messages"] == [{"role": "user", "content": [{"text": prompt}]}]
    assert last["body"]["inferenceConfig"] == {"maxTokens": 50}
    assert "model" not in last["body"] and "stream" not in last["body"]
    auth = last["headers"]["authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={harness.SIM_AWS_ACCESS_KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in auth and "x-amz-date" in auth
    assert harness.SIM_AWS_SECRET_ACCESS_KEY not in str(last)

    prompt_tokens = sim_tokens("Be terse." + prompt)  # all request text counts together
    u = completion.usage
    assert (u.prompt_tokens, u.prompt_tokens_details.cached_tokens, u.completion_tokens) == (prompt_tokens, 2, 24)
    event = bedrock_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "chat_completions" and event["provider"] == "bedrock"
    assert event["model_served"] == NOVA
    tokens = {"input": prompt_tokens - 2, "cached_input": 2, "cache_write": 0, "output": 24}
    assert event["tokens"] == tokens
    assert event["cost_nanos"] == expected_cost_nanos(NOVA_PRICE, tokens)
    assert int(Decimal(raw.headers["x-tollgate-cost-usd"]) * 1_000_000_000) == event["cost_nanos"]


def test_openai_stream_on_a_bedrock_lane(bedrock_stack):
    prompt = unique("Stream Converse to chat chunks")
    raw = oai(bedrock_stack).chat.completions.with_raw_response.create(
        model=NOVA, max_tokens=12, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": prompt}])
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(f"Simulated answer from {NOVA}") and len(text.split()) == 12
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    assert chunks[-1].usage.completion_tokens == 12 and chunks[-1].usage.prompt_tokens == sim_tokens(prompt)
    assert bedrock_stack.sim_get("/_sim/last")["path"] == "/model/{model_id}/converse-stream"
    event = bedrock_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["stream"] is True and event["provider"] == "bedrock"
    tokens = {"input": sim_tokens(prompt), "cached_input": 0, "cache_write": 0, "output": 12}
    assert event["tokens"] == tokens and event["usage_source"] == "reported"
    assert event["cost_nanos"] == expected_cost_nanos(NOVA_PRICE, tokens)


def test_anthropic_client_on_a_bedrock_lane(bedrock_stack):
    prompt = unique("Converse for an Anthropic client")
    raw = ant(bedrock_stack).messages.with_raw_response.create(
        model=HAIKU, max_tokens=64, system="You are terse.",
        messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-sim-cache-write-tokens": "3"})
    msg = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "haiku-bedrock"
    assert msg.type == "message" and msg.model == HAIKU
    assert msg.content[0].text.startswith(f"Simulated answer from {HAIKU}")
    assert msg.stop_reason == "end_turn"
    prompt_tokens = sim_tokens("You are terse." + prompt)
    assert (msg.usage.input_tokens, msg.usage.cache_creation_input_tokens) == (prompt_tokens - 3, 3)
    event = bedrock_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "messages" and event["provider"] == "bedrock"
    tokens = {"input": prompt_tokens - 3, "cached_input": 0, "cache_write": 3, "output": 24}
    assert event["tokens"] == tokens
    assert event["cost_nanos"] == expected_cost_nanos(HAIKU_PRICE, tokens)


def test_anthropic_stream_on_a_bedrock_lane(bedrock_stack):
    prompt = unique("Stream Converse to message events")
    with ant(bedrock_stack).messages.stream(
        model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": prompt}],
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        request_id = s.response.headers["x-tollgate-request-id"]
    assert text.startswith(f"Simulated answer from {HAIKU}")
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (sim_tokens(prompt), 10)
    event = bedrock_stack.wait_for_event(request_id)
    tokens = {"input": sim_tokens(prompt), "cached_input": 0, "cache_write": 0, "output": 10}
    assert event["stream"] is True and event["tokens"] == tokens
    assert event["cost_nanos"] == expected_cost_nanos(HAIKU_PRICE, tokens)


def test_a_wrong_secret_is_refused_by_bedrock_and_reaches_the_client_as_its_own_error(bedrock_stack):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        oai(bedrock_stack).chat.completions.create(
            model="nova-badkey", messages=[{"role": "user", "content": unique("signed wrong")}])
    assert refused.value.status_code == 403
    body = refused.value.body
    assert "signature" in body["message"].lower()
    assert "not-the-secret" not in str(body)
    request_id = refused.value.response.headers["x-tollgate-request-id"]
    event = bedrock_stack.wait_for_event(request_id)
    assert event["lane"] == "nova-badkey" and event["cost_nanos"] == 0

    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        ant(bedrock_stack).messages.create(
            model="nova-badkey", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert refused.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("error", ["429", "500"])
def test_throttling_or_a_5xx_falls_back_from_bedrock(bedrock_stack, error):
    prompt = unique(f"fall back on {error}")
    raw = oai(bedrock_stack).chat.completions.with_raw_response.create(
        model="nova-or-gpt", messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-sim-error": error})
    completion = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "openai-gpt4o-mini"
    assert completion.choices[0].message.content.startswith("Simulated answer")
    request_id = raw.headers["x-tollgate-request-id"]
    final = bedrock_stack.wait_for_event(request_id)
    failed = bedrock_stack.wait_for_event(f"{request_id}-attempt1")
    assert failed["provider"] == "bedrock" and failed["lane"] == "nova"
    assert failed["http_status"] == int(error) and failed["cost_nanos"] == 0
    assert final["provider"] == "openai" and final["tokens"]["output"] > 0

    # An Anthropic client falls back from Bedrock to the Anthropic lane alike.
    r = ant(bedrock_stack).messages.with_raw_response.create(
        model="nova-or-claude", max_tokens=20, messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-sim-error": error})
    assert r.headers["x-tollgate-lane"] == "anthropic-haiku"
    assert r.parse().content[0].text.startswith("Simulated answer from claude-haiku")


def test_bedrock_throttling_without_a_fallback_is_the_clients_rate_limit_error(bedrock_stack):
    with pytest.raises(openai.RateLimitError) as limited:
        oai(bedrock_stack).chat.completions.create(
            model=NOVA, messages=[{"role": "user", "content": unique("throttled")}],
            extra_headers={"x-sim-error": "429"})
    assert limited.value.body["code"] == "rate_limit_exceeded"
    assert limited.value.body["message"].startswith("Too many requests")


def test_tools_and_tool_results_reach_bedrock_as_converse_tool_blocks(bedrock_stack):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    completion = oai(bedrock_stack).chat.completions.create(
        model=NOVA, messages=messages, tools=tools, tool_choice="auto")
    assert completion.choices[0].message.content.startswith("Simulated answer")
    sent = bedrock_stack.sim_get("/_sim/last")["body"]
    assert sent["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather in a city",
                                "inputSchema": {"json": tools[0]["function"]["parameters"]}}}],
        "toolChoice": {"auto": {}}}
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}]
    assert sent["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C and sunny"}]}}]


def test_what_converse_cannot_carry_is_refused_before_bedrock(bedrock_stack):
    before = bedrock_stack.sim_get("/_sim/stats")["requests"]
    with pytest.raises(openai.BadRequestError) as refused:
        oai(bedrock_stack).chat.completions.create(
            model=NOVA, n=2, messages=[{"role": "user", "content": "two answers"}])
    assert "`n`" in refused.value.body["message"] and "Bedrock" in refused.value.body["message"]
    with pytest.raises(anthropic.BadRequestError) as refused:
        ant(bedrock_stack).messages.create(
            model=HAIKU, max_tokens=5, messages=[{"role": "user", "content": "think"}],
            thinking={"type": "enabled", "budget_tokens": 1024})
    assert "thinking" in refused.value.body["error"]["message"]
    assert bedrock_stack.sim_get("/_sim/stats")["requests"] == before


def test_an_exception_in_a_bedrock_stream_reaches_each_sdk_as_a_stream_error(bedrock_stack):
    stream = oai(bedrock_stack).chat.completions.create(
        model=NOVA, stream=True, messages=[{"role": "user", "content": unique("cut by an exception")}],
        extra_headers={"x-sim-error": "stream-exception"})
    said = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in stream:
            said.extend(c.delta.content or "" for c in chunk.choices)
    assert "Too many tokens" in str(failed.value)
    assert "".join(said).startswith("Simulated answer")

    with pytest.raises(anthropic.APIStatusError) as failed:
        with ant(bedrock_stack).messages.stream(
            model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": unique("cut again")}],
            extra_headers={"x-sim-error": "stream-exception"},
        ) as s:
            for _ in s.text_stream:
                pass
    assert failed.value.body["error"]["type"] == "rate_limit_error"


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
TOOL_INPUT = {"query": "simulated input for get_weather"}


def test_a_bedrock_tool_call_reaches_the_openai_client_as_tool_calls(bedrock_stack):
    messages = [{"role": "user", "content": unique("Use the tool")}]
    completion = oai(bedrock_stack).chat.completions.create(
        model=NOVA, messages=messages, tools=[WEATHER_TOOL], tool_choice="required")
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == TOOL_INPUT
    assert call.id.startswith("tooluse_sim")

    stream = oai(bedrock_stack).chat.completions.create(
        model=NOVA, messages=messages, tools=[WEATHER_TOOL], stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    chunks = list(stream)
    deltas = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == TOOL_INPUT
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["tool_calls"]


def test_a_bedrock_tool_call_reaches_the_anthropic_client_as_tool_use(bedrock_stack):
    tool = {"name": "get_weather", "description": "Weather in a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"]}
    messages = [{"role": "user", "content": unique("Use the tool")}]
    msg = ant(bedrock_stack).messages.create(
        model=HAIKU, max_tokens=100, messages=messages, tools=[tool], tool_choice={"type": "any"})
    assert msg.stop_reason == "tool_use"
    assert (msg.content[0].type, msg.content[0].name, msg.content[0].input) == ("tool_use", "get_weather", TOOL_INPUT)
    with ant(bedrock_stack).messages.stream(
        model=HAIKU, max_tokens=100, messages=messages, tools=[tool], tool_choice={"type": "any"},
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[0].input == TOOL_INPUT
