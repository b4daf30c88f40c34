"""Gemini lanes through real Envoy: the official OpenAI and Anthropic SDKs, unchanged,
served by a Gemini API lane (`x-goog-api-key`) and a Vertex AI lane (a Bearer token,
the project and location in the URL), JSON and streamed, and embeddings by a Gemini API
embedding lane; exact tokens and cost on the
ledger event (cached tokens at the cached rate, thinking tokens as output); fallback
from a failing Gemini lane to an OpenAI lane; refusals and Google's errors in the
client's format. The simulator's Gemini surface is checked against Google's own SDK
(`google-genai`), so the lanes are tested against the real wire format.

Expected costs use the built-in catalogue's Gemini prices, restated here in
micro-dollars per million tokens."""

import math

import anthropic
import openai
import pytest
import yaml

import stack as harness
from conftest import CONFIG, KEYS

FLASH = {"input": 300_000, "cached_input": 30_000, "output": 2_500_000}
PRO = {"input": 1_250_000, "cached_input": 125_000, "output": 10_000_000}
GPT_MINI = {"input": 150_000, "cached_input": 75_000, "output": 600_000}


def nanos(rates: dict, tokens: dict) -> int:
    return (sum(tokens.get(k, 0) * rates[k] for k in rates) + 500) // 1000


def prompt_tokens(*texts: str) -> int:
    """The simulator's count: a token per 4 bytes of prompt text, rounded up."""
    return max(1, math.ceil(sum(len(t.encode()) for t in texts) / 4))


def write_config(work):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["providers"]["routing"] = {"strategy": "priority", "max_attempts": 2,
                                   "aliases": {"resilient": ["flash", "gpt"]}}
    doc["providers"]["targets"] = [
        {"id": "flash", "provider": "gemini", "model": "gemini-2.5-flash",
         "secret_key_ref": {"env": "GEMINI_API_KEY"}},
        {"id": "vertex-pro", "provider": "vertex_ai", "model": "gemini-2.5-pro",
         "project": "acme-ml", "location": "europe-west4",
         "secret_key_ref": {"env": "VERTEX_ACCESS_TOKEN"}},
        {"id": "gpt", "provider": "openai", "model": "gpt-5.4-mini-mini",
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "gemini-embed", "provider": "gemini", "model": "gemini-embedding-001", "mode": "embedding",
         "secret_key_ref": {"env": "GEMINI_API_KEY"}},
    ]
    config = work / "gemini.yaml"
    config.write_text(yaml.safe_dump(doc))
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("gemini")
    s = harness.start_stack(write_config(work), work)
    yield s
    s.stop()


def oai(stack):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)


def ant(stack):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)


def event_tokens(event):
    return {k: event["tokens"].get(k, 0) for k in ("input", "cached_input", "cache_write", "output")}


def test_openai_client_on_the_gemini_lane(stack):
    system, user = "Be terse.", "Translate me to Gemini, please"
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", max_completion_tokens=50, temperature=0.2,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        extra_headers={"x-sim-cached-tokens": "2", "x-sim-thinking-tokens": "7"})
    completion = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "flash"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content.startswith("Simulated answer from gemini-2.5-flash:")
    assert completion.choices[0].finish_reason == "stop"
    prompt = prompt_tokens(system, user)
    u = completion.usage
    assert (u.prompt_tokens, u.completion_tokens) == (prompt, 24 + 7)
    assert u.prompt_tokens_details.cached_tokens == 2
    assert u.completion_tokens_details.reasoning_tokens == 7

    # What reached Google: its path and key header, the request in its shape.
    last = stack.sim_get("/_sim/last")
    assert last["path"] == "/v1beta/models/{model}:generateContent"
    assert last["headers"]["x-goog-api-key"] == "ok"
    assert "authorization" not in last["headers"]
    assert last["body"] == {
        "contents": [{"role": "user", "parts": [{"text": user}]}],
        "systemInstruction": {"parts": [{"text": system}]},
        "generationConfig": {"maxOutputTokens": 50, "temperature": 0.2},
    }

    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert (event["api"], event["provider"], event["lane"]) == ("chat_completions", "gemini", "flash")
    assert event["model_served"] == "gemini-2.5-flash" and event["usage_source"] == "reported"
    tokens = {"input": prompt - 2, "cached_input": 2, "cache_write": 0, "output": 31}
    assert event_tokens(event) == tokens
    assert event["priced_by"] == "gemini-2.5-flash:2025-06-17"
    assert event["cost_nanos"] == nanos(FLASH, tokens) > 0


def test_openai_stream_on_the_gemini_lane(stack):
    user = "Stream through Gemini"
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", max_tokens=12, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": user}], extra_headers={"x-sim-thinking-tokens": "5"})
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated answer from gemini-2.5-flash:") and len(text.split()) == 12
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and usage[0].completion_tokens == 17
    assert stack.sim_get("/_sim/last")["path"] == "/v1beta/models/{model}:streamGenerateContent"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    tokens = {"input": prompt_tokens(user), "cached_input": 0, "cache_write": 0, "output": 17}
    assert event["stream"] is True and event_tokens(event) == tokens
    assert event["cost_nanos"] == nanos(FLASH, tokens)


def test_anthropic_client_on_the_vertex_lane(stack):
    system, user = "You are terse.", "Hello from the Anthropic SDK to Vertex"
    raw = ant(stack).messages.with_raw_response.create(
        model="gemini-2.5-pro", max_tokens=64, system=system, extra_body={"top_k": 20},
        messages=[{"role": "user", "content": user}],
        extra_headers={"x-sim-cached-tokens": "3", "x-sim-thinking-tokens": "11"})
    msg = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "vertex-pro"
    assert msg.type == "message" and msg.content[0].text.startswith("Simulated answer from gemini-2.5-pro:")
    assert msg.stop_reason == "end_turn" and msg.model == "gemini-2.5-pro"
    prompt = prompt_tokens(system, user)
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (prompt - 3, 3)
    assert msg.usage.output_tokens == 24 + 11

    last = stack.sim_get("/_sim/last")
    assert last["path"] == ("/v1/projects/{project}/locations/{location}/publishers/google"
                            "/models/{model}:generateContent")
    assert last["headers"]["authorization"] == "ok"
    assert "x-api-key" not in last["headers"]
    assert last["body"]["generationConfig"] == {"maxOutputTokens": 64, "topK": 20}

    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert (event["api"], event["provider"], event["lane"]) == ("messages", "vertex_ai", "vertex-pro")
    tokens = {"input": prompt - 3, "cached_input": 3, "cache_write": 0, "output": 35}
    assert event_tokens(event) == tokens
    assert event["cost_nanos"] == nanos(PRO, tokens) > 0


def test_anthropic_stream_on_the_vertex_lane(stack):
    user = "Stream it from Vertex"
    with ant(stack).messages.stream(
        model="gemini-2.5-pro", max_tokens=10, messages=[{"role": "user", "content": user}],
        extra_headers={"x-sim-thinking-tokens": "4"},
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        request_id = s.response.headers["x-tollgate-request-id"]
    assert text.startswith("Simulated answer from gemini-2.5-pro:") and len(text.split()) == 10
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (prompt_tokens(user), 14)
    event = stack.wait_for_event(request_id)
    tokens = {"input": prompt_tokens(user), "cached_input": 0, "cache_write": 0, "output": 14}
    assert event["stream"] is True and event["provider"] == "vertex_ai" and event_tokens(event) == tokens
    assert event["cost_nanos"] == nanos(PRO, tokens)


@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_gemini_lane_falls_back_to_the_openai_lane(stack, stream):
    user = f"fail over from Gemini, stream={stream}"
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="resilient", stream=stream, messages=[{"role": "user", "content": user}],
        extra_headers={"x-sim-error": "503"})
    answer = raw.parse()
    text = ("".join(c.choices[0].delta.content or "" for c in answer if c.choices) if stream
            else answer.choices[0].message.content)
    assert text.startswith("Simulated answer from gpt-5.4-mini-mini:")
    assert raw.headers["x-tollgate-lane"] == "gpt"
    request_id = raw.headers["x-tollgate-request-id"]
    failed = stack.wait_for_event(f"{request_id}-attempt1")
    assert (failed["lane"], failed["provider"], failed["http_status"]) == ("flash", "gemini", 503)
    assert failed["outcome"] == "provider_error" and failed["cost_nanos"] == 0
    final = stack.wait_for_event(request_id)
    assert (final["lane"], final["outcome"]) == ("gpt", "ok")
    assert final["cost_nanos"] == nanos(GPT_MINI, event_tokens(final)) > 0


def test_google_errors_arrive_in_the_clients_format(stack):
    with pytest.raises(openai.RateLimitError) as e:
        oai(stack).chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "limit me"}],
            extra_headers={"x-sim-error": "429"})
    assert e.value.body["code"] == "rate_limit_exceeded"
    assert "exhausted" in e.value.message
    with pytest.raises(anthropic.InternalServerError) as e:
        ant(stack).messages.create(
            model="gemini-2.5-pro", max_tokens=5, messages=[{"role": "user", "content": "break me"}],
            extra_headers={"x-sim-error": "500"})
    assert e.value.body["error"]["type"] == "api_error"


def test_untranslatable_requests_are_refused_before_google_is_called(stack):
    before = sum(stack.sim_get("/_sim/stats")["requests"].values())
    with pytest.raises(openai.BadRequestError) as e:
        oai(stack).chat.completions.create(
            model="gemini-2.5-flash", logprobs=True, messages=[{"role": "user", "content": "probs"}])
    assert "`logprobs`" in e.value.message and "Gemini" in e.value.message
    with pytest.raises(anthropic.BadRequestError) as e:
        ant(stack).messages.create(
            model="gemini-2.5-pro", max_tokens=5, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "think"}])
    assert "`thinking`" in e.value.message
    assert sum(stack.sim_get("/_sim/stats")["requests"].values()) == before


def test_openai_embeddings_on_a_gemini_embedding_lane(stack):
    texts = ["Embed me with Gemini", "and me too"]
    raw = oai(stack).embeddings.with_raw_response.create(
        model="gemini-embedding-001", input=texts, dimensions=8)
    result = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "gemini-embed"
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding

    last = stack.sim_get("/_sim/last")
    assert last["path"] == "/v1beta/models/{model}:batchEmbedContents"
    assert last["headers"]["x-goog-api-key"] == "ok"
    assert last["body"]["requests"][1] == {
        "model": "models/gemini-embedding-001", "content": {"parts": [{"text": "and me too"}]},
        "outputDimensionality": 8}

    # Google reports no token counts for embeddings: the input is Tollgate's estimate
    # from the text, the output none.
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert (event["api"], event["provider"], event["usage_source"]) == ("embeddings", "gemini", "estimated")
    tokens = event_tokens(event)
    assert tokens["input"] > 0 and tokens["output"] == 0
    assert event["cost_nanos"] == nanos({"input": 150_000}, tokens) > 0


def test_the_simulator_speaks_geminis_wire_format_to_googles_sdk(stack):
    from google import genai
    from google.genai import errors, types
    from google.oauth2.credentials import Credentials

    base = f"http://{stack.simulator}"
    client = genai.Client(api_key=harness.SIM_GEMINI_KEY, http_options=types.HttpOptions(base_url=base))
    config = types.GenerateContentConfig(max_output_tokens=8, system_instruction="Be brief.")
    r = client.models.generate_content(
        model="gemini-2.5-flash", contents="Hello Gemini", config=config)
    assert r.text.startswith("Simulated answer from gemini-2.5-flash:") and len(r.text.split()) == 8
    assert r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert r.model_version == "gemini-2.5-flash" and r.response_id
    u = r.usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count) == (prompt_tokens("Be brief.", "Hello Gemini"), 8)

    headers = {"x-sim-cached-tokens": "2", "x-sim-thinking-tokens": "6"}
    chunks = list(client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Stream to the SDK",
        config=types.GenerateContentConfig(http_options=types.HttpOptions(headers=headers))))
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks).startswith("Simulated answer from gemini-2.5-flash:")
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    final = chunks[-1].usage_metadata
    assert (final.candidates_token_count, final.cached_content_token_count, final.thoughts_token_count) == (24, 2, 6)
    assert final.total_token_count == final.prompt_token_count + 24 + 6

    # (Each client is kept in a variable: a client nobody holds is closed before it sends.)
    wrong_key = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=base))
    with pytest.raises(errors.ClientError) as e:
        wrong_key.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert (e.value.code, e.value.status) == (400, "INVALID_ARGUMENT")

    vertex = genai.Client(
        vertexai=True, project="acme-ml", location="europe-west4",
        credentials=Credentials(token=harness.SIM_VERTEX_TOKEN),
        http_options=types.HttpOptions(base_url=base, api_version="v1"))
    r = vertex.models.generate_content(model="gemini-2.5-pro", contents="Hello Vertex")
    assert r.text.startswith("Simulated answer from gemini-2.5-pro:")
    assert r.usage_metadata.candidates_token_count == 24
    expired = genai.Client(
        vertexai=True, project="acme-ml", location="europe-west4", credentials=Credentials(token="expired"),
        http_options=types.HttpOptions(base_url=base, api_version="v1"))
    with pytest.raises(errors.ClientError) as e:
        expired.models.generate_content(model="gemini-2.5-pro", contents="x")
    assert (e.value.code, e.value.status) == (401, "UNAUTHENTICATED")

    embedded = client.models.embed_content(
        model="gemini-embedding-001", contents=["one", "two"],
        config=types.EmbedContentConfig(output_dimensionality=4))
    assert [len(e.values) for e in embedded.embeddings] == [4, 4]
