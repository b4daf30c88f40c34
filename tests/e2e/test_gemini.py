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

import json
import math
import time
import uuid

import anthropic
import openai
import pytest
import yaml
from pydantic import BaseModel

import stack as harness
from conftest import ANTHROPIC_TOOLS, CONFIG, KEYS, OPENAI_TOOLS, WEATHER_ARGS, WEATHER_SCHEMA, Day, GetWeather

FLASH = {"input": 300_000, "cached_input": 30_000, "output": 2_500_000}
PRO = {"input": 1_250_000, "cached_input": 125_000, "output": 10_000_000}
GPT_MINI = {"input": 150_000, "cached_input": 75_000, "output": 600_000}
# Not in the built-in catalogue: priced by the test's config.
FLASH_3 = {"input": 500_000, "cached_input": 50_000, "output": 3_000_000}


class Forecast(BaseModel):
    city: str
    days: list[Day]
    today: Day


# What the simulator's model answers for the forecast schema: a minimal valid instance.
FORECAST = Forecast(city="sim", days=[], today=Day(summary="sim", high=0))


def tokens_for(document) -> int:
    """Output tokens the simulator counts for a call's arguments or a JSON answer:
    ceil(compact bytes / 4)."""
    return math.ceil(len(json.dumps(document, separators=(",", ":"))) / 4)


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
        {"id": "flash-3", "provider": "gemini", "model": "gemini-3-flash-preview",
         "secret_key_ref": {"env": "GEMINI_API_KEY"}},
    ]
    doc["pricing"]["gemini-3-flash-preview"] = {"input": "0.50", "cached_input": "0.05", "output": "3.00"}
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


# --- Tool calls and structured output across the Gemini lanes ----------------------


def assert_priced(stack, request_id, rates, lane, input_tokens, output_tokens):
    """The call's cost event is on `lane` with exactly the reported tokens, priced."""
    event = stack.wait_for_event(request_id)
    tokens = {"input": input_tokens, "cached_input": 0, "cache_write": 0, "output": output_tokens}
    assert event["lane"] == lane and event["outcome"] == "ok"
    assert event_tokens(event) == tokens
    assert event["cost_nanos"] == nanos(rates, tokens) > 0
    return event


def test_openai_tool_call_on_the_gemini_lane_then_text_after_the_result(stack):
    client = oai(stack)
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=question, tools=OPENAI_TOOLS)
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    prompt = prompt_tokens(question[0]["content"])
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt, tokens_for(WEATHER_ARGS))
    # Google got the function as a declaration with the client's JSON Schema.
    assert stack.sim_get("/_sim/last")["body"]["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Current weather for a city.", "parametersJsonSchema": WEATHER_SCHEMA}]}]
    assert_priced(stack, raw.headers["x-tollgate-request-id"], FLASH, "flash", prompt, tokens_for(WEATHER_ARGS))

    # The tool's result goes back as a functionResponse; under AUTO the model answers in text.
    history = question + [choice.message.model_dump(exclude_none=True),
                          {"role": "tool", "tool_call_id": call.id, "content": "18 degrees, sunny"}]
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=history, tools=OPENAI_TOOLS)
    answer = raw.parse()
    assert answer.choices[0].finish_reason == "stop" and not answer.choices[0].message.tool_calls
    assert answer.choices[0].message.content.startswith("Simulated answer from gemini-2.5-flash:")
    assert stack.sim_get("/_sim/last")["body"]["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": WEATHER_ARGS},
                                     "thoughtSignature": "skip_thought_signature_validator"}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "get_weather", "response": {"content": "18 degrees, sunny"}}}]},
    ]
    assert answer.usage.completion_tokens == 24
    assert_priced(stack, raw.headers["x-tollgate-request-id"], FLASH, "flash", answer.usage.prompt_tokens, 24)


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_a_gemini_3_tool_loop_replays_the_call_with_a_signature(stack, sdk):
    """Gemini 3 signs its function calls and refuses a replayed call without a
    signature. The OpenAI client gets it where Google's own OpenAI-compatible endpoint
    puts it (`extra_content`) and sends it back with the message; the Anthropic
    client has nowhere to keep it, so the lane sends Google's skip-validation
    signature. Either way the loop's second turn is answered."""
    question = "What is the weather in Paris?"
    if sdk == "openai":
        client = oai(stack)
        messages = [{"role": "user", "content": question}]
        first = client.chat.completions.create(model="gemini-3-flash-preview", messages=messages, tools=OPENAI_TOOLS)
        [call] = first.choices[0].message.tool_calls
        signature = call.model_extra["extra_content"]["google"]["thought_signature"]
        assert signature
        messages += [first.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"}]
        raw = client.chat.completions.with_raw_response.create(
            model="gemini-3-flash-preview", messages=messages, tools=OPENAI_TOOLS)
        answer = raw.parse()
        text, usage = answer.choices[0].message.content, (answer.usage.prompt_tokens, answer.usage.completion_tokens)
    else:
        client = ant(stack)
        messages = [{"role": "user", "content": question}]
        first = client.messages.create(
            model="gemini-3-flash-preview", max_tokens=100, messages=messages, tools=ANTHROPIC_TOOLS[1:])
        [block] = first.content
        signature = "skip_thought_signature_validator"
        messages += [{"role": "assistant", "content": [block.model_dump(exclude_none=True)]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id,
                                                   "content": "18 degrees"}]}]
        raw = client.messages.with_raw_response.create(
            model="gemini-3-flash-preview", max_tokens=100, messages=messages, tools=ANTHROPIC_TOOLS[1:])
        answer = raw.parse()
        text, usage = answer.content[0].text, (answer.usage.input_tokens, answer.usage.output_tokens)
    assert raw.headers["x-tollgate-lane"] == "flash-3"
    assert text.startswith("Simulated answer from gemini-3-flash-preview:")
    replayed = stack.sim_get("/_sim/last")["body"]["contents"][1]["parts"][0]
    assert replayed["thoughtSignature"] == signature
    assert_priced(stack, raw.headers["x-tollgate-request-id"], FLASH_3, "flash-3", *usage)


def test_openai_streamed_tool_call_on_the_gemini_lane(stack):
    user, label = "Weather in Oslo, please", f"oai-stream-{uuid.uuid4().hex[:8]}"
    with oai(stack).chat.completions.stream(
        model="gemini-2.5-flash", stream_options={"include_usage": True}, user=label,
        messages=[{"role": "user", "content": user}],
        tools=[openai.pydantic_function_tool(GetWeather)], tool_choice="required",
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    last = stack.sim_get("/_sim/last")
    assert last["path"] == "/v1beta/models/{model}:streamGenerateContent"
    assert last["body"]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    # Gemini streams a call whole, so its arguments arrive in one delta.
    [delta] = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert json.loads(delta.arguments_delta) == WEATHER_ARGS
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.id and call.function.name == "GetWeather"
    assert call.function.parsed_arguments == GetWeather(**WEATHER_ARGS)
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (prompt_tokens(user), tokens_for(WEATHER_ARGS))
    [event] = events_of(stack, "flash", label)
    assert_priced(stack, event["id"], FLASH, "flash", prompt_tokens(user), tokens_for(WEATHER_ARGS))
    assert event["stream"] is True


def test_openai_structured_output_on_the_gemini_lane(stack):
    client = oai(stack)
    user = "Forecast for Rome"
    raw = client.chat.completions.with_raw_response.parse(
        model="gemini-2.5-flash", response_format=Forecast, messages=[{"role": "user", "content": user}])
    completion = raw.parse()
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop" and message.parsed == FORECAST
    output = tokens_for(json.loads(message.content))
    assert completion.usage.completion_tokens == output
    config = stack.sim_get("/_sim/last")["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["city", "days", "today"]
    assert_priced(stack, raw.headers["x-tollgate-request-id"], FLASH, "flash", prompt_tokens(user), output)

    with client.chat.completions.stream(
        model="gemini-2.5-flash", response_format=Forecast, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream the forecast for Rome"}],
    ) as stream:
        content_deltas = [e for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(content_deltas) > 1, "the JSON arrives in several fragments"
    assert final.choices[0].message.parsed == FORECAST
    assert final.usage.completion_tokens == output


def test_anthropic_tool_use_on_the_vertex_lane_then_text_after_the_result(stack):
    client = ant(stack)
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    raw = client.messages.with_raw_response.create(
        model="gemini-2.5-pro", max_tokens=200, messages=question, tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"})
    msg = raw.parse()
    assert msg.stop_reason == "tool_use"
    [block] = msg.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == WEATHER_ARGS and block.id
    prompt = prompt_tokens(question[0]["content"])
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (prompt, tokens_for(WEATHER_ARGS))
    assert stack.sim_get("/_sim/last")["body"]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert_priced(stack, raw.headers["x-tollgate-request-id"], PRO, "vertex-pro", prompt, tokens_for(WEATHER_ARGS))

    # `auto` (the default) calls the first tool while the user asks.
    auto = client.messages.create(model="gemini-2.5-pro", max_tokens=200, messages=question, tools=ANTHROPIC_TOOLS)
    assert auto.stop_reason == "tool_use" and auto.content[0].name == "get_time"
    assert auto.content[0].input == {"city": "sim"}

    history = question + [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18 degrees"}]},
    ]
    raw = client.messages.with_raw_response.create(
        model="gemini-2.5-pro", max_tokens=200, messages=history, tools=ANTHROPIC_TOOLS)
    answer = raw.parse()
    assert answer.stop_reason == "end_turn" and [b.type for b in answer.content] == ["text"]
    assert answer.content[0].text.startswith("Simulated answer from gemini-2.5-pro:")
    assert stack.sim_get("/_sim/last")["body"]["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"content": "18 degrees"}}}]}
    assert_priced(stack, raw.headers["x-tollgate-request-id"], PRO, "vertex-pro",
                  answer.usage.input_tokens, answer.usage.output_tokens)


def test_anthropic_streamed_tool_use_on_the_vertex_lane(stack):
    user = "Weather in Oslo, please"
    with ant(stack).messages.stream(
        model="gemini-2.5-pro", max_tokens=200, messages=[{"role": "user", "content": user}],
        tools=ANTHROPIC_TOOLS[1:],
    ) as s:
        events = list(s)
        final = s.get_final_message()
        request_id = s.response.headers["x-tollgate-request-id"]
    partials = [e.delta.partial_json for e in events
                if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert json.loads("".join(partials)) == WEATHER_ARGS
    assert final.stop_reason == "tool_use"
    [block] = final.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == WEATHER_ARGS and block.id
    assert (final.usage.input_tokens, final.usage.output_tokens) == (prompt_tokens(user), tokens_for(WEATHER_ARGS))
    event = assert_priced(stack, request_id, PRO, "vertex-pro", prompt_tokens(user), tokens_for(WEATHER_ARGS))
    assert event["stream"] is True


def test_anthropic_structured_output_on_the_gemini_lane(stack):
    client = ant(stack)
    user = f"ant-json-{uuid.uuid4().hex[:8]}"
    msg = client.messages.parse(
        model="gemini-2.5-flash", max_tokens=500, output_format=Forecast, metadata={"user_id": user},
        messages=[{"role": "user", "content": "Forecast for Rome"}])
    assert msg.stop_reason == "end_turn" and msg.parsed_output == FORECAST
    output = tokens_for(json.loads(msg.content[0].text))
    assert msg.usage.output_tokens == output
    config = stack.sim_get("/_sim/last")["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["city", "days", "today"]
    [event] = events_of(stack, "flash", user)
    tokens = {"input": prompt_tokens("Forecast for Rome"), "cached_input": 0, "cache_write": 0, "output": output}
    assert event_tokens(event) == tokens and event["cost_nanos"] == nanos(FLASH, tokens) > 0

    with client.messages.stream(
        model="gemini-2.5-flash", max_tokens=500, output_format=Forecast,
        messages=[{"role": "user", "content": "Stream the forecast for Rome"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.parsed_output == FORECAST and final.usage.output_tokens == output


def events_of(stack, lane, user):
    """The cost events of `user` on `lane`, once the first has landed."""
    deadline = time.time() + 15
    while time.time() < deadline:
        mine = [e for e in stack.events(lane=lane) if e.get("user") == user]
        if mine:
            return mine
        time.sleep(0.1)
    return []


def test_langchain_binds_tools_and_structures_output_on_the_gemini_lane(stack):
    from langchain_openai import ChatOpenAI

    def model(user):
        return ChatOpenAI(model="gemini-2.5-flash", base_url=stack.openai_base_url, api_key=KEYS["engineering"],
                          max_retries=0, model_kwargs={"user": user})

    user = f"lc-tools-{uuid.uuid4().hex[:8]}"
    reply = model(user).bind_tools([GetWeather]).invoke("What is the weather in Paris?")
    [call] = reply.tool_calls
    assert call["name"] == "GetWeather" and call["args"] == WEATHER_ARGS
    assert reply.usage_metadata["output_tokens"] == tokens_for(WEATHER_ARGS)
    [event] = events_of(stack, "flash", user)
    tokens = {"input": reply.usage_metadata["input_tokens"], "cached_input": 0, "cache_write": 0,
              "output": tokens_for(WEATHER_ARGS)}
    assert event_tokens(event) == tokens and event["cost_nanos"] == nanos(FLASH, tokens) > 0

    user = f"lc-json-{uuid.uuid4().hex[:8]}"
    out = model(user).with_structured_output(Forecast, include_raw=True).invoke("Forecast for Rome")
    assert out["parsing_error"] is None and out["parsed"] == FORECAST
    [event] = events_of(stack, "flash", user)
    usage = out["raw"].usage_metadata
    tokens = {"input": usage["input_tokens"], "cached_input": 0, "cache_write": 0, "output": usage["output_tokens"]}
    assert event_tokens(event) == tokens and event["cost_nanos"] == nanos(FLASH, tokens) > 0


def test_the_simulator_calls_functions_in_geminis_wire_format(stack):
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=harness.SIM_GEMINI_KEY,
                          http_options=types.HttpOptions(base_url=f"http://{stack.simulator}"))
    weather = types.FunctionDeclaration(
        name="get_weather", description="Current weather for a city.", parameters_json_schema=WEATHER_SCHEMA)
    clock = types.FunctionDeclaration(
        name="get_time", description="The time in a zone.",
        parameters=types.Schema(type=types.Type.OBJECT, properties={"zone": types.Schema(type=types.Type.STRING)},
                                required=["zone"]))
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[weather, clock])])
    r = client.models.generate_content(model="gemini-2.5-flash", contents="Weather in Paris?", config=config)
    [call] = r.function_calls
    assert (call.name, call.args) == ("get_weather", WEATHER_ARGS)
    assert r.candidates[0].finish_reason == types.FinishReason.STOP and r.text is None
    assert r.usage_metadata.candidates_token_count == tokens_for(WEATHER_ARGS)

    # ANY with an allowed name calls that function, streamed whole in one chunk.
    only_clock = config.model_copy(update={"tool_config": types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_time"]))})
    chunks = list(client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="What time is it?", config=only_clock))
    calls = [c for chunk in chunks for c in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("get_time", {"zone": "sim"})]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP

    # After the function's response, and under NONE, the model answers in text.
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")]),
        r.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(
            name="get_weather", response={"content": "18 degrees"})]),
    ]
    answered = client.models.generate_content(model="gemini-2.5-flash", contents=contents, config=config)
    assert answered.text.startswith("Simulated answer") and not answered.function_calls
    never = config.model_copy(update={"tool_config": types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode="NONE"))})
    assert client.models.generate_content(
        model="gemini-2.5-flash", contents="Weather?", config=never).text.startswith("Simulated answer")

    # JSON output: the SDK's own schema conversion (responseSchema) and a JSON Schema.
    for json_config in (
        types.GenerateContentConfig(response_mime_type="application/json", response_schema=Forecast),
        types.GenerateContentConfig(response_mime_type="application/json",
                                    response_json_schema=Forecast.model_json_schema()),
    ):
        r = client.models.generate_content(model="gemini-2.5-flash", contents="Forecast", config=json_config)
        assert Forecast.model_validate_json(r.text) == FORECAST
        assert r.usage_metadata.candidates_token_count == tokens_for(json.loads(r.text))
        assert Forecast.model_validate(r.parsed) == FORECAST
