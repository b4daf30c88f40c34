"""Embeddings, legacy completions, Anthropic token counting and the endpoints Tollgate
does not govern, through the real Envoy with the official SDKs: where each request goes,
what the client gets back, and what the team is charged."""

import uuid

import anthropic
import openai
import pytest
import yaml

import stack as harness
from conftest import CONFIG, KEYS

# Built-in list prices in nanodollars per token.
EMBED_SMALL_NANOS = 20  # text-embedding-3-small: $0.02 / 1M tokens
INSTRUCT_IN_NANOS, INSTRUCT_OUT_NANOS = 1_500, 2_000  # gpt-3.5-turbo-instruct: $1.50 / $2.00


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def sim_tokens(text: str) -> int:
    """The simulator's input rule: a token per 4 UTF-8 bytes, rounded up, at least 1."""
    return max(1, -(-len(text.encode()) // 4))


def sim_requests(stack) -> int:
    return sum(stack.sim_get("/_sim/stats")["requests"].values())


@pytest.fixture(scope="module")
def endpoints_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("endpoints")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["providers"]["targets"] += [
        {"id": "embed-small", "provider": "openai", "model": "text-embedding-3-small",
         "mode": "embedding", "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "instruct", "provider": "openai", "model": "gpt-3.5-turbo-instruct",
         "mode": "completion", "secret_key_ref": {"env": "OPENAI_API_KEY"}},
    ]
    doc["providers"]["targets"] += [
        # OpenAI-compatible servers; render-envoy --simulator keeps their base paths.
        {"id": "vllm", "provider": "openai_compatible", "model": "llama-3.1-8b-instruct",
         "base_url": "http://vllm.internal:8000/v1", "fixed_cost": True,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "mistral", "provider": "openai_compatible", "model": "mistral-small-latest",
         "base_url": "https://api.mistral.ai/v1", "secret_key_ref": {"env": "OPENAI_API_KEY"}},
    ]
    doc["pricing"]["mistral-small-latest"] = {"input": "0.10", "output": "0.30"}
    doc["other_endpoints"] = {"images": "passthrough"}
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


def openai_client(stack, key=KEYS["support"]):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=key, max_retries=0)


def test_embeddings_in_the_sdks_base64_default_and_as_floats_are_priced_and_cached(endpoints_stack):
    stack = endpoints_stack
    client = openai_client(stack)
    texts = [unique("refund policy"), unique("shipping times")]
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=texts)
    assert raw.http_request.read() and b'"encoding_format":"base64"' in raw.http_request.read().replace(b" ", b"")
    result = raw.parse()
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 1536 for d in result.data)
    assert raw.headers["x-tollgate-lane"] == "embed-small"
    tokens = sum(sim_tokens(t) for t in texts)
    assert result.usage.prompt_tokens == tokens
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "embeddings" and event["outcome"] == "ok"
    assert event["team"] == "team_support" and event["lane"] == "embed-small"
    assert event["tokens"]["input"] == tokens and event["tokens"]["output"] == 0
    assert event["cost_nanos"] == tokens * EMBED_SMALL_NANOS
    assert event["lease_id"] is not None, "wallet-checked"

    # The same vectors as floats (a different request, so not the cached base64 answer).
    floats = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    for a, b in zip(floats.data[0].embedding, result.data[0].embedding):
        assert a == pytest.approx(b, abs=1e-6)

    # The identical request again: answered from the cache, the provider not called.
    before = sim_requests(stack)
    again = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=texts)
    assert sim_requests(stack) == before
    assert again.headers["x-tollgate-cache"] == "hit"
    assert again.parse().data[1].embedding == result.data[1].embedding
    hit = stack.wait_for_event(again.headers["x-tollgate-request-id"])
    assert hit["cost_nanos"] == 0 and hit["cost_avoided_nanos"] == event["cost_nanos"]

    shorter = client.embeddings.create(model="text-embedding-3-small", input=unique("x"), dimensions=256)
    assert len(shorter.data[0].embedding) == 256


def test_embeddings_for_a_model_no_lane_serves_are_refused(endpoints_stack):
    client = openai_client(endpoints_stack)
    before = sim_requests(endpoints_stack)
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="text-embedding-3-large", input="x")
    assert "text-embedding-3-large" in e.value.body["message"]
    assert sim_requests(endpoints_stack) == before


def test_legacy_completions_json_and_stream_are_priced_like_chat(endpoints_stack):
    stack = endpoints_stack
    client = openai_client(stack, KEYS["engineering"])
    prompt = unique("Say hello")
    raw = client.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=5)
    done = raw.parse()
    assert done.object == "text_completion" and done.choices[0].text
    assert done.usage.completion_tokens == 5
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "completions" and event["lane"] == "instruct"
    assert (event["tokens"]["input"], event["tokens"]["output"]) == (sim_tokens(prompt), 5)
    assert event["cost_nanos"] == sim_tokens(prompt) * INSTRUCT_IN_NANOS + 5 * INSTRUCT_OUT_NANOS

    # Streamed without asking for usage: the client gets none, the team is charged.
    raw = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt=unique("Stream"), stream=True)
    chunks = list(raw.parse())
    assert "".join(c.choices[0].text for c in chunks if c.choices)
    assert all(c.usage is None for c in chunks)
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["stream"] and event["usage_source"] == "reported"
    assert event["tokens"]["output"] == 16, "the endpoint's max_tokens default"
    assert event["cost_nanos"] == event["tokens"]["input"] * INSTRUCT_IN_NANOS + 16 * INSTRUCT_OUT_NANOS

    # Asked for: the usage chunk arrives.
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt=unique("Stream"),
                                            stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 16 and not chunks[-1].choices


def test_anthropic_token_counting_reaches_the_provider_and_is_never_charged(endpoints_stack):
    stack = endpoints_stack
    client = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["finance"], max_retries=0)
    text = unique("How many tokens is this?")
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-haiku", messages=[{"role": "user", "content": text}])
    assert raw.parse().input_tokens == sim_tokens(text)
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "count_tokens" and event["outcome"] == "ok"
    assert event["team"] == "team_finance" and event["provider"] == "anthropic"
    assert event["cost_nanos"] == 0 and not event["unpriced"]
    assert event.get("lease_id") is None, "no wallet reservation"
    assert stack.sim_get("/_sim/last")["path"] == "/v1/messages/count_tokens"


def test_a_passed_through_endpoint_is_attributed_and_shown_unpriced(endpoints_stack):
    stack = endpoints_stack
    client = openai_client(stack)
    raw = client.images.with_raw_response.generate(model="gpt-image-1", prompt=unique("a lighthouse"))
    image = raw.parse()
    assert image.data[0].b64_json
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "passthrough" and event["outcome"] == "ok"
    assert event["team"] == "team_support" and event["provider"] == "openai"
    assert event["unpriced"] is True and event["cost_nanos"] == 0
    assert event["tokens"]["output"] == image.usage.output_tokens
    # Counted where spend is read, not hidden behind its zero cost.
    live = stack.ledger_get("/v1/insights/live", team="team_support")
    assert live["unpriced"] >= 1
    assert "unpriced" in live["summary"]
    by_api = stack.ledger_get("/v1/spend", group_by="api", team="team_support")
    assert any(r["key"]["api"] == "passthrough" and r["requests"] >= 1 for r in by_api["rows"])


def test_other_endpoints_are_refused_and_batches_are_not_governed(endpoints_stack):
    stack = endpoints_stack
    client = openai_client(stack)
    before = sim_requests(stack)
    with pytest.raises(openai.NotFoundError) as e:
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    assert e.value.body["code"] == "unsupported_endpoint"
    with pytest.raises(openai.PermissionDeniedError) as e:
        client.batches.create(input_file_id="file-1", endpoint="/v1/chat/completions", completion_window="24h")
    assert e.value.body["code"] == "batch_not_governed"
    assert "Batch jobs are not governed" in e.value.body["message"]
    ac = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["support"], max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        ac.messages.batches.create(requests=[{"custom_id": "a", "params": {
            "model": "claude-haiku", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}}])
    assert "Batch jobs are not governed" in str(e.value)
    assert sim_requests(stack) == before, "nothing refused reached a provider"


def test_openai_compatible_lanes_fixed_cost_and_priced_with_or_without_usage(endpoints_stack):
    stack = endpoints_stack
    client = openai_client(stack, KEYS["engineering"])
    text = unique("hello self-hosted")
    raw = client.chat.completions.with_raw_response.create(
        model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": text}], max_tokens=6)
    answer = raw.parse()
    assert answer.usage.completion_tokens == 6
    assert raw.headers["x-tollgate-lane"] == "vllm"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["provider"] == "openai_compatible" and event["outcome"] == "ok"
    assert (event["tokens"]["input"], event["tokens"]["output"]) == (sim_tokens(text), 6)
    assert event["cost_nanos"] == 0 and not event["unpriced"], "fixed cost: counted, free"
    assert event.get("lease_id") is None, "nothing to reserve"
    assert stack.sim_get("/_sim/last")["path"] == "/v1/chat/completions"

    # A priced compatible lane that never reports usage in its stream: estimated, charged.
    raw = client.chat.completions.with_raw_response.create(
        model="mistral-small-latest", messages=[{"role": "user", "content": unique("stream")}],
        stream=True, extra_headers={"x-sim-error": "no-usage"})
    text_out = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text_out
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["lane"] == "mistral" and event["usage_source"] == "estimated"
    assert event["cost_nanos"] > 0 and not event["unpriced"]

    # An Anthropic client reaches the compatible lane through translation.
    ac = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)
    raw = ac.messages.with_raw_response.create(
        model="mistral-small-latest", max_tokens=5, messages=[{"role": "user", "content": unique("hi")}])
    message = raw.parse()
    assert message.type == "message" and message.usage.output_tokens == 5
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "messages" and event["lane"] == "mistral"
    # mistral-small-latest at $0.10 / $0.30 per million: 100 and 300 nanodollars a token.
    assert event["cost_nanos"] == event["tokens"]["input"] * 100 + 5 * 300
