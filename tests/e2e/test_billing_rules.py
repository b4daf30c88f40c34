"""Provider billing rules priced exactly, end to end: official SDK → Envoy + Tollgate
filter → simulator, then the cost event in the ledger and the FOCUS export.

The lanes serve catalogue models (`gpt-5`, `claude-sonnet-4-5`) priced by Tollgate's
built-in list prices; the expected costs below are computed here from the providers'
published rates, not from Tollgate's code:

* OpenAI gpt-5 per million tokens: standard $1.25 input / $0.125 cached / $10 output,
  flex $0.625 / $0.0625 / $5, priority $2.50 / $0.25 / $20.
* OpenAI gpt-4o-mini-search-preview: $0.15 input / $0.60 output, $25 per 1,000
  searches, one with every Chat Completions request.
* Anthropic Claude Sonnet 4.5: $3 input, $0.30 cache read, $3.75 5-minute cache write,
  $6 1-hour cache write, $15 output; above 200,000 prompt tokens every token at $6 /
  $0.60 / $7.50 / $12 / $22.50. Web search: $10 per 1,000 searches.
"""

import math
from decimal import Decimal

import anthropic
import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS

OPENAI_MODEL = "gpt-5"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
SEARCH_MODEL = "gpt-4o-mini-search-preview"

# Micro-dollars per million tokens (= picodollars per token).
GPT5 = {
    "default": {"input": 1_250_000, "cached_input": 125_000, "output": 10_000_000},
    "flex": {"input": 625_000, "cached_input": 62_500, "output": 5_000_000},
    "priority": {"input": 2_500_000, "cached_input": 250_000, "output": 20_000_000},
}
SONNET = {"input": 3_000_000, "cached_input": 300_000, "cache_write": 3_750_000,
          "cache_write_1h": 6_000_000, "output": 15_000_000}
SONNET_LONG = {"input": 6_000_000, "cached_input": 600_000, "cache_write": 7_500_000,
               "cache_write_1h": 12_000_000, "output": 22_500_000}
WEB_SEARCH_NANOS = 10_000_000  # $10 per 1,000 searches
# gpt-4o-mini-search-preview: $0.15 input / $0.60 output, and a web search with every
# request at $25 per 1,000 (Chat Completions search-preview models).
SEARCH_PREVIEW = {"input": 150_000, "output": 600_000}
SEARCH_PREVIEW_CALL_NANOS = 25_000_000


def nanos(rates: dict, tokens: dict) -> int:
    picos = sum(n * rates[kind] for kind, n in tokens.items())
    return (picos + 500) // 1000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("billing")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["providers"]["targets"] = [
        {"id": "openai-gpt5", "provider": "openai", "model": OPENAI_MODEL,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "anthropic-sonnet", "provider": "anthropic", "model": ANTHROPIC_MODEL,
         "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}},
        {"id": "openai-search", "provider": "openai", "model": SEARCH_MODEL,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
    ]
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


def oai(stack):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)


def ant(stack):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)


def usd_header_nanos(headers) -> int:
    return int(Decimal(headers["x-tollgate-cost-usd"]) * 1_000_000_000)


def test_openai_service_tiers_are_priced_at_the_tier_the_response_reports(stack):
    client = oai(stack)
    # JSON, flex requested and reported: half the standard price.
    raw = client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "A flex request, please."}],
        service_tier="flex", extra_headers={"x-sim-cached-tokens": "2"})
    completion = raw.parse()
    assert completion.service_tier == "flex"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    u = completion.usage
    tokens = {"input": u.prompt_tokens - 2, "cached_input": 2, "output": u.completion_tokens}
    assert event["service_tier"] == "flex" and event["priced_by"] == "gpt-5:2025-08-07@flex"
    assert event["cost_nanos"] == nanos(GPT5["flex"], tokens) > 0
    assert usd_header_nanos(raw.headers) == event["cost_nanos"]

    # Stream, priority requested but the response says it ran at the standard tier:
    # the reported tier prices it.
    raw = client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "Stream at priority."}],
        service_tier="priority", stream=True, stream_options={"include_usage": True},
        extra_headers={"x-sim-service-tier": "default"})
    chunks = list(raw.parse())
    u = [c.usage for c in chunks if c.usage][-1]
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["service_tier"] == "default" and event["priced_by"] == "gpt-5:2025-08-07"
    assert event["cost_nanos"] == nanos(GPT5["default"], {"input": u.prompt_tokens, "output": u.completion_tokens})

    # Responses stream at priority.
    raw = client.responses.with_raw_response.create(
        model=OPENAI_MODEL, input="Priority, streamed.", service_tier="priority", stream=True)
    done = [e for e in raw.parse() if e.type == "response.completed"][0].response
    assert done.service_tier == "priority"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["service_tier"] == "priority"
    assert event["cost_nanos"] == nanos(
        GPT5["priority"], {"input": done.usage.input_tokens, "output": done.usage.output_tokens})


def test_anthropic_one_hour_cache_writes_are_priced_and_kept_apart(stack):
    headers = {"x-sim-cache-write-tokens": "30", "x-sim-cache-write-1h-tokens": "70", "x-sim-cached-tokens": "11"}
    raw = ant(stack).messages.with_raw_response.create(
        model=ANTHROPIC_MODEL, max_tokens=50, messages=[{"role": "user", "content": "Cache this for an hour"}],
        extra_headers=headers)
    u = raw.parse().usage
    assert u.cache_creation.ephemeral_1h_input_tokens == 70 and u.cache_creation_input_tokens == 100
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    tokens = {"input": u.input_tokens, "cached_input": 11, "cache_write": 30, "cache_write_1h": 70,
              "output": u.output_tokens}
    assert event["tokens"] == tokens
    assert event["cost_nanos"] == nanos(SONNET, tokens)
    assert usd_header_nanos(raw.headers) == event["cost_nanos"]

    with ant(stack).messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=12, messages=[{"role": "user", "content": "Stream, cached for an hour"}],
        extra_headers=headers,
    ) as s:
        "".join(s.text_stream)
        final = s.get_final_message()
        request_id = s.response.headers["x-tollgate-request-id"]
    event = stack.wait_for_event(request_id)
    tokens = {"input": final.usage.input_tokens, "cached_input": 11, "cache_write": 30, "cache_write_1h": 70,
              "output": 12}
    assert event["tokens"] == tokens and event["usage_source"] == "reported"
    assert event["cost_nanos"] == nanos(SONNET, tokens)


def test_web_searches_are_charged_per_call_as_their_own_component(stack):
    raw = ant(stack).messages.with_raw_response.create(
        model=ANTHROPIC_MODEL, max_tokens=40, messages=[{"role": "user", "content": "Search the web twice"}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        extra_headers={"x-sim-web-searches": "2"})
    u = raw.parse().usage
    assert u.server_tool_use.web_search_requests == 2
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["web_search_calls"] == 2 and event["tool_cost_nanos"] == 2 * WEB_SEARCH_NANOS
    assert event["cost_nanos"] == 2 * WEB_SEARCH_NANOS + nanos(
        SONNET, {"input": u.input_tokens, "output": u.output_tokens})
    assert usd_header_nanos(raw.headers) == event["cost_nanos"]

    # OpenAI Responses, streamed: one charge per `web_search_call` output item.
    raw = oai(stack).responses.with_raw_response.create(
        model=OPENAI_MODEL, input="Search three times.", tools=[{"type": "web_search"}], stream=True,
        extra_headers={"x-sim-web-searches": "3"})
    done = [e for e in raw.parse() if e.type == "response.completed"][0].response
    assert [item.type for item in done.output].count("web_search_call") == 3
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["web_search_calls"] == 3 and event["tool_cost_nanos"] == 3 * WEB_SEARCH_NANOS
    assert event["cost_nanos"] == 3 * WEB_SEARCH_NANOS + nanos(
        GPT5["default"], {"input": done.usage.input_tokens, "output": done.usage.output_tokens})


def test_prompts_above_the_long_context_threshold_are_priced_at_its_rates(stack):
    def ask(cached: int, one_hour: int):
        raw = ant(stack).messages.with_raw_response.create(
            model=ANTHROPIC_MODEL, max_tokens=8, messages=[{"role": "user", "content": f"Long context {cached}"}],
            extra_headers={"x-sim-cached-tokens": str(cached), "x-sim-cache-write-1h-tokens": str(one_hour)})
        u = raw.parse().usage
        tokens = {"input": u.input_tokens, "cached_input": cached, "cache_write_1h": one_hour,
                  "output": u.output_tokens}
        return tokens, stack.wait_for_event(raw.headers["x-tollgate-request-id"])

    # Cache reads and writes count toward the prompt size: 150,000 + 60,000 > 200,000.
    tokens, event = ask(150_000, 60_000)
    assert sum(v for k, v in tokens.items() if k != "output") > 200_000
    assert event["priced_by"] == "claude-sonnet-4-5:2025-09-29@long_context"
    assert event["cost_nanos"] == nanos(SONNET_LONG, tokens)
    # At or below the threshold the standard rates apply.
    tokens, event = ask(100_000, 50_000)
    assert event["priced_by"] == "claude-sonnet-4-5:2025-09-29"
    assert event["cost_nanos"] == nanos(SONNET, tokens)


def read_cut_stream(stack, path: str, headers: dict, body: dict) -> tuple[str, list[bytes]]:
    """Posts a stream the simulator cuts half way; returns the request id and the lines
    the client received before the connection broke."""
    lines = []
    r = requests.post(f"http://{stack.envoy}{path}", json=body, stream=True, timeout=30,
                      headers={**headers, "x-sim-error": "broken-stream"})
    assert r.status_code == 200
    try:
        for line in r.iter_lines():
            lines.append(line)
    except requests.exceptions.RequestException:
        pass
    return r.headers["x-tollgate-request-id"], lines


def test_cut_streams_estimate_output_from_the_text_delivered(stack):
    import json

    # OpenAI chat: no usage ever arrives.
    request_id, lines = read_cut_stream(
        stack, "/v1/chat/completions", {"authorization": f"Bearer {KEYS['engineering']}"},
        {"model": OPENAI_MODEL, "stream": True, "messages": [{"role": "user", "content": "Cut me off"}]})
    text = "".join(
        (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in lines if line.startswith(b"data: {"))
    assert text, "some text arrived before the cut"
    event = stack.wait_for_event(request_id)
    assert event["outcome"] == "incomplete" and event["usage_source"] == "estimated"
    # Four characters of delivered text per token, never the SSE envelope.
    assert event["tokens"]["output"] == math.ceil(len(text) / 4)

    # Anthropic: message_start reported the input; its output_tokens is a placeholder.
    request_id, lines = read_cut_stream(
        stack, "/v1/messages", {"x-api-key": KEYS["engineering"], "anthropic-version": "2023-06-01"},
        {"model": ANTHROPIC_MODEL, "max_tokens": 24, "stream": True,
         "messages": [{"role": "user", "content": "Cut me off too"}]})
    payloads = [json.loads(line[6:]) for line in lines if line.startswith(b"data: ")]
    start = next(p for p in payloads if p["type"] == "message_start")["message"]["usage"]
    text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
    assert text and not any(p["type"] == "message_delta" for p in payloads)
    event = stack.wait_for_event(request_id)
    assert event["usage_source"] == "estimated"
    assert event["tokens"]["input"] == start["input_tokens"]
    # 3.5 characters per token for Claude: ceil(chars × 2 / 7).
    assert event["tokens"]["output"] == math.ceil(len(text) * 2 / 7) != start["output_tokens"]
    assert event["cost_nanos"] == nanos(SONNET, {"input": start["input_tokens"], "output": event["tokens"]["output"]})


def test_focus_export_shows_web_search_and_one_hour_write_lines(stack):
    import csv
    import io

    raw = ant(stack).messages.with_raw_response.create(
        model=ANTHROPIC_MODEL, max_tokens=5, messages=[{"role": "user", "content": "Export me"}],
        extra_headers={"x-sim-web-searches": "1", "x-sim-cache-write-1h-tokens": "9"})
    stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    total = stack.ledger_get("/v1/spend")["total"]["cost_nanos"]
    r = requests.get(f"http://{stack.ledger}/v1/export",
                     params={"format": "focus", "grain": "day", "from": "2020-01-01", "to": "2100-01-01"},
                     headers=stack.admin_headers, timeout=30)
    r.raise_for_status()
    rows = list(csv.DictReader(io.StringIO(r.text)))
    searches = [row for row in rows if row["x_TokenKind"] == "web_search"]
    assert searches and all(row["ConsumedUnit"] == "Requests" and row["PricingUnit"] == "1000 Requests"
                            for row in searches)
    assert all(row["ListUnitPrice"] == "10" for row in searches)
    assert any(row["x_TokenKind"] == "cache_write_1h" for row in rows)
    cost = sum(Decimal(row["BilledCost"]) for row in rows)
    assert int(cost * 1_000_000_000) == total


def prompt_estimate(units: int, messages: int, anthropic_model: bool) -> int:
    """Tollgate's documented prompt estimate: text at 4 (OpenAI) or 3.5 (Anthropic)
    characters a token, plus 3 tokens a message."""
    text = -(-units * 2 // 7) if anthropic_model else -(-units // 4)
    return text + 3 * messages


def test_a_response_without_any_usage_is_estimated_from_the_prompts_text(stack):
    content = "Estimate me from my words, not from the JSON around them. " * 5
    raw = oai(stack).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": content}],
        extra_headers={"x-sim-error": "no-usage"})
    assert raw.parse().usage is None
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["usage_source"] == "estimated"
    # The strings the model reads: the role and the content (ASCII: 1 unit a character).
    tokens = {"input": prompt_estimate(len("user") + len(content), 1, False),
              "output": -(-len(raw.http_response.content) // 4)}
    assert event["tokens"]["input"] == tokens["input"] == 77
    assert event["tokens"]["output"] == tokens["output"]
    assert event["cost_nanos"] == nanos(GPT5["default"], tokens)

    system = "You answer briefly."
    raw = ant(stack).messages.with_raw_response.create(
        model=ANTHROPIC_MODEL, max_tokens=64, system=system,
        messages=[{"role": "user", "content": content}], extra_headers={"x-sim-error": "no-usage"})
    raw.parse()
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["usage_source"] == "estimated"
    units = len(system) + len("user") + len(content)
    tokens = {"input": prompt_estimate(units, 2, True),
              "output": -(-len(raw.http_response.content) // 4)}
    assert event["tokens"]["input"] == tokens["input"]
    assert event["tokens"]["output"] == tokens["output"]
    assert event["cost_nanos"] == nanos(SONNET, tokens)


def test_chat_search_preview_models_charge_a_web_search_per_request(stack):
    client = oai(stack)
    raw = client.chat.completions.with_raw_response.create(
        model=SEARCH_MODEL, messages=[{"role": "user", "content": "What happened today?"}])
    u = raw.parse().usage
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    tokens = {"input": u.prompt_tokens, "output": u.completion_tokens}
    assert event["web_search_calls"] == 1
    assert event["tool_cost_nanos"] == SEARCH_PREVIEW_CALL_NANOS
    assert event["cost_nanos"] == nanos(SEARCH_PREVIEW, tokens) + SEARCH_PREVIEW_CALL_NANOS
    assert event["priced_by"].startswith(f"{SEARCH_MODEL}:")
    assert usd_header_nanos(raw.headers) == event["cost_nanos"]

    raw = client.chat.completions.with_raw_response.create(
        model=SEARCH_MODEL, messages=[{"role": "user", "content": "And streamed?"}], stream=True,
        stream_options={"include_usage": True})
    u = [c.usage for c in raw.parse() if c.usage][-1]
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["web_search_calls"] == 1
    assert event["cost_nanos"] == nanos(SEARCH_PREVIEW, {"input": u.prompt_tokens, "output": u.completion_tokens}) \
        + SEARCH_PREVIEW_CALL_NANOS
