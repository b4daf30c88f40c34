"""Azure OpenAI lanes through real Envoy: unchanged OpenAI and Anthropic SDK clients
served by Azure deployments (JSON and streams, embeddings on the v1 API with an Entra
ID token), exact tokens and cost in the ledger, a content-filter refusal passed on
uncharged and never retried elsewhere, fallback from Azure to OpenAI on 429/5xx. And
the simulator on its own against the official `openai.AzureOpenAI` client, which shows
it speaks Azure's wire format."""

import anthropic
import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS

# gpt-4o-mini ($0.15 / $0.60 per million tokens) and text-embedding-3-small ($0.02),
# from the built-in catalogue, in nanodollars per token.
MINI_INPUT, MINI_OUTPUT, EMBED_INPUT = 150, 600, 20

DEPLOYMENT_PATH = "/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21"


def azure_config(work):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["providers"]["routing"] = {"strategy": "priority", "max_attempts": 2,
                                   "failures_to_cool_down": 100, "cooldown_seconds": 60,
                                   "aliases": {"gpt-4o-mini": ["azure-mini", "openai-backup"]}}
    doc["providers"]["targets"] = [
        {"id": "azure-mini", "provider": "azure_openai", "model": "gpt-4o-mini",
         "base_url": "https://tollgate-test.openai.azure.com", "deployment": "mini-prod",
         "api_version": "2024-10-21", "secret_key_ref": {"env": "AZURE_OPENAI_API_KEY"}},
        {"id": "openai-backup", "provider": "openai", "model": "gpt-4o-mini",
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "azure-embed", "provider": "azure_openai", "model": "text-embedding-3-small",
         "mode": "embedding", "base_url": "https://tollgate-test.openai.azure.com",
         "deployment": "embed-prod", "api_version": "v1", "auth": "entra",
         "secret_key_ref": {"env": "AZURE_OPENAI_AD_TOKEN"}},
    ]
    config = work / "azure.yaml"
    config.write_text(yaml.safe_dump(doc))
    return config


@pytest.fixture(scope="module")
def azure_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("azure")
    s = harness.start_stack(azure_config(work), work)
    yield s
    s.stop()


def oai(stack):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)


def ant(stack):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["support"], max_retries=0)


def mini_cost(tokens):
    return tokens["input"] * MINI_INPUT + tokens["output"] * MINI_OUTPUT


def test_openai_sdk_json_is_served_by_the_azure_deployment_at_the_models_price(azure_stack):
    raw = oai(azure_stack).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello Azure, from the OpenAI SDK"}])
    completion = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "azure-mini"
    assert completion.choices[0].message.content.startswith("Simulated answer")
    # Azure's additions reach the client unchanged.
    assert completion.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    assert completion.choices[0].model_extra["content_filter_results"]["hate"]["severity"] == "safe"
    last = azure_stack.sim_get("/_sim/last")
    assert last["target"] == DEPLOYMENT_PATH
    assert last["headers"]["api-key"] == "ok" and "authorization" not in last["headers"]
    event = azure_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    u = completion.usage
    tokens = {"input": u.prompt_tokens, "cached_input": 0, "cache_write": 0, "output": u.completion_tokens}
    assert event["provider"] == "azure_openai" and event["lane"] == "azure-mini"
    assert event["outcome"] == "ok" and event["unpriced"] is False
    assert event["tokens"]["input"] == tokens["input"] and event["tokens"]["output"] == tokens["output"]
    assert event["cost_nanos"] == mini_cost(tokens)
    assert raw.headers["x-tollgate-cost-usd"]


def test_openai_sdk_stream_from_azure_is_accounted_exactly(azure_stack):
    raw = oai(azure_stack).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", stream=True, max_tokens=10,
        messages=[{"role": "user", "content": "Stream from Azure"}])
    chunks = list(raw.parse())
    # Azure's first chunk (the prompt's filter verdict, no choices) reaches the client,
    # the usage chunk Tollgate asked for does not.
    assert chunks[0].choices == [] and chunks[0].model_extra["prompt_filter_results"]
    assert not any(c.usage for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated answer") and len(text.split()) == 10
    event = azure_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["stream"] is True and event["lane"] == "azure-mini"
    assert event["usage_source"] == "reported" and event["tokens"]["output"] == 10
    assert event["cost_nanos"] == mini_cost(event["tokens"])


def test_embeddings_go_to_the_azure_embedding_deployment_on_the_v1_api_with_an_entra_token(azure_stack):
    raw = oai(azure_stack).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["alpha beta gamma", "delta"])
    result = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "azure-embed" and len(result.data) == 2
    last = azure_stack.sim_get("/_sim/last")
    assert last["target"] == "/openai/v1/embeddings"
    assert last["body"]["model"] == "embed-prod"
    assert last["headers"]["authorization"] == "ok" and "api-key" not in last["headers"]
    event = azure_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "embeddings" and event["tokens"]["input"] == result.usage.prompt_tokens
    assert event["cost_nanos"] == result.usage.prompt_tokens * EMBED_INPUT


def test_a_content_filter_refusal_passes_to_the_openai_client_uncharged_without_fallback(azure_stack):
    before = azure_stack.sim_get("/_sim/stats")["requests"].get("/v1/chat/completions", 0)
    with pytest.raises(openai.BadRequestError) as caught:
        oai(azure_stack).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "something the filter catches"}],
            extra_headers={"x-sim-content-filter": "prompt"})
    err = caught.value
    assert err.status_code == 400 and err.code == "content_filter"
    assert err.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert err.body["innererror"]["content_filter_result"]["violence"]["filtered"] is True
    request_id = err.response.headers["x-tollgate-request-id"]
    event = azure_stack.wait_for_event(request_id)
    assert event["lane"] == "azure-mini" and event["http_status"] == 400
    assert event["outcome"] == "provider_error" and event["reason"] == "content_filter"
    assert event["cost_nanos"] == 0 and event["tokens"]["input"] == 0
    # The OpenAI lane was never asked, and no failed attempt was recorded.
    assert azure_stack.sim_get("/_sim/stats")["requests"].get("/v1/chat/completions", 0) == before
    assert not [e for e in azure_stack.events() if e["id"].startswith(f"{request_id}-attempt")]


@pytest.mark.parametrize("error", ["429", "500"])
def test_an_azure_failure_falls_back_to_the_openai_lane(azure_stack, error):
    raw = oai(azure_stack).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"fail over {error}"}],
        extra_headers={"x-sim-error": error})
    completion = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "openai-backup"
    request_id = raw.headers["x-tollgate-request-id"]
    failed = azure_stack.wait_for_event(f"{request_id}-attempt1")
    assert failed["lane"] == "azure-mini" and failed["http_status"] == int(error)
    assert failed["outcome"] == "provider_error" and failed["cost_nanos"] == 0
    final = azure_stack.wait_for_event(request_id)
    assert final["lane"] == "openai-backup" and final["provider"] == "openai"
    assert final["tokens"]["output"] == completion.usage.completion_tokens
    assert final["cost_nanos"] == mini_cost(final["tokens"])


def test_anthropic_sdk_is_translated_to_the_azure_lane(azure_stack):
    raw = ant(azure_stack).messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=64,
        messages=[{"role": "user", "content": "Hello Azure, from the Anthropic SDK"}])
    msg = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "azure-mini"
    assert msg.type == "message" and msg.content[0].text.startswith("Simulated answer")
    assert msg.stop_reason == "end_turn"
    assert azure_stack.sim_get("/_sim/last")["target"] == DEPLOYMENT_PATH
    event = azure_stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "messages" and event["provider"] == "azure_openai"
    assert event["tokens"]["input"] == msg.usage.input_tokens
    assert event["tokens"]["output"] == msg.usage.output_tokens
    assert event["cost_nanos"] == mini_cost(event["tokens"])


def test_anthropic_sdk_stream_from_azure_starts_with_message_start(azure_stack):
    with ant(azure_stack).messages.stream(
            model="gpt-4o-mini", max_tokens=12,
            messages=[{"role": "user", "content": "Stream from Azure to Anthropic"}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-tollgate-request-id"]
    assert events[0].type == "message_start" and events[0].message.id.startswith("msg_sim")
    assert events[-1].type == "message_stop"
    assert len(final.content[0].text.split()) == 12 and final.stop_reason == "max_tokens"
    event = azure_stack.wait_for_event(request_id)
    assert event["stream"] is True and event["lane"] == "azure-mini"
    assert event["tokens"]["output"] == final.usage.output_tokens == 12
    assert event["tokens"]["input"] == final.usage.input_tokens
    assert event["cost_nanos"] == mini_cost(event["tokens"])


def test_a_content_filter_refusal_reaches_the_anthropic_client_as_its_own_error(azure_stack):
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant(azure_stack).messages.create(
            model="gpt-4o-mini", max_tokens=16, extra_headers={"x-sim-content-filter": "prompt"},
            messages=[{"role": "user", "content": "something the filter catches"}])
    err = caught.value
    assert err.status_code == 400
    assert err.body["type"] == "error" and err.body["error"]["type"] == "invalid_request_error"
    assert "content management policy" in err.body["error"]["message"]
    event = azure_stack.wait_for_event(err.response.headers["x-tollgate-request-id"])
    assert event["reason"] == "content_filter" and event["cost_nanos"] == 0


def test_a_filtered_completion_is_an_anthropic_refusal(azure_stack):
    msg = ant(azure_stack).messages.create(
        model="gpt-4o-mini", max_tokens=16, extra_headers={"x-sim-content-filter": "completion"},
        messages=[{"role": "user", "content": "an answer the filter cuts"}])
    assert msg.stop_reason == "refusal"


# ---- The simulator alone, against the official Azure client -------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    proc, addr = harness.start_simulator(tmp_path_factory.mktemp("azure-sim"))
    yield addr
    proc.stop()


def azure_client(sim, **auth):
    auth = auth or {"api_key": harness.SIM_AZURE_KEY}
    return openai.AzureOpenAI(azure_endpoint=f"http://{sim}", api_version="2024-10-21", max_retries=0, **auth)


def test_simulator_answers_the_azure_client_in_azures_shape(sim):
    client = azure_client(sim)
    completion = client.chat.completions.create(
        model="mini-prod", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content.startswith("Simulated answer")
    assert completion.model_extra["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"] is False
    assert completion.choices[0].model_extra["content_filter_results"]["violence"]["filtered"] is False
    assert completion.usage.prompt_tokens >= 1
    last = requests.get(f"http://{sim}/_sim/last", timeout=5).json()
    assert last["target"] == "/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21"
    assert last["headers"]["api-key"] == "ok"

    chunks = list(client.chat.completions.create(
        model="mini-prod", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}]))
    assert chunks[0].choices == [] and chunks[0].id == "" and chunks[0].model_extra["prompt_filter_results"]
    assert chunks[1].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 24
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]

    embeddings = client.embeddings.create(model="embed-prod", input="alpha")
    assert len(embeddings.data[0].embedding) == 1536 and embeddings.usage.prompt_tokens == 2

    filtered = client.chat.completions.create(
        model="mini-prod", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-sim-content-filter": "completion"})
    assert filtered.choices[0].finish_reason == "content_filter"


def test_simulator_refuses_like_azure(sim):
    with pytest.raises(openai.BadRequestError) as caught:
        azure_client(sim).chat.completions.create(
            model="mini-prod", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-sim-content-filter": "prompt"})
    assert caught.value.code == "content_filter"
    assert caught.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    with pytest.raises(openai.AuthenticationError):
        azure_client(sim, api_key="wrong").chat.completions.create(
            model="mini-prod", messages=[{"role": "user", "content": "hi"}])
    # An Entra ID token is accepted as a bearer.
    token_client = azure_client(sim, azure_ad_token=harness.SIM_AZURE_ENTRA_TOKEN)
    assert token_client.chat.completions.create(
        model="mini-prod", messages=[{"role": "user", "content": "hi"}]).choices
    # A deployment path without api-version is not found, as on Azure.
    r = requests.post(f"http://{sim}/openai/deployments/mini-prod/chat/completions",
                      headers={"api-key": harness.SIM_AZURE_KEY},
                      json={"messages": [{"role": "user", "content": "hi"}]}, timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "404"
    # The v1 API needs none and names the deployment as the model.
    v1 = openai.OpenAI(base_url=f"http://{sim}/openai/v1", api_key="unused", max_retries=0,
                       default_headers={"api-key": harness.SIM_AZURE_KEY})
    assert v1.chat.completions.create(model="mini-prod", messages=[{"role": "user", "content": "hi"}]).choices
