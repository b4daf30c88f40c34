"""The whole path on the real Envoy: official SDK → Envoy + Tollgate filter → simulator,
and one priced, attributed cost event per request in the ledger."""

import http.client
import json
from decimal import Decimal

import anthropic
import openai
import pytest
import requests

from conftest import KEYS, expected_cost_nanos

OPENAI_LANE = ("openai-gpt4o-mini", "gpt-5.4-mini-mini")
ANTHROPIC_LANE = ("anthropic-haiku", "claude-haiku")


def oai(stack, key=KEYS["support"], **kw):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=key, max_retries=0, **kw)


def ant(stack, key=KEYS["support"], **kw):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=key, max_retries=0, **kw)


def usd_header_nanos(headers) -> int:
    return int(Decimal(headers["x-tollgate-cost-usd"]) * 1_000_000_000)


def assert_priced(event, prices, model, tokens):
    assert event["tokens"] == tokens
    assert event["usage_source"] == "reported"
    assert event["cost_nanos"] == expected_cost_nanos(prices[model], tokens)
    assert event["cost_nanos"] > 0


def test_openai_chat_is_attributed_priced_and_recorded(stack, prices):
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there, Tollgate!"}],
        user="alice@example.com",
        extra_headers={"x-tollgate-workflow": "ticket-triage"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    request_id = raw.headers["x-tollgate-request-id"]
    assert raw.headers["x-tollgate-lane"] == OPENAI_LANE[0]

    event = stack.wait_for_event(request_id)
    assert event["team"] == "team_support"
    assert event["consumer_group"] == "support"
    assert event["user"] == "alice@example.com"
    assert event["workflow"] == "ticket-triage"
    assert event["provider"] == "openai"
    assert event["lane"] == OPENAI_LANE[0]
    assert event["model_requested"] == "gpt-4o-mini"
    assert event["model_served"] == OPENAI_LANE[1]
    assert event["outcome"] == "ok" and event["http_status"] == 200
    assert event["stream"] is False
    u = completion.usage
    assert_priced(event, prices, OPENAI_LANE[1],
                  {"input": u.prompt_tokens, "cached_input": 0, "cache_write": 0, "output": u.completion_tokens})
    # The cost header carries the same figure, in USD.
    assert usd_header_nanos(raw.headers) == event["cost_nanos"]


def test_provider_gets_its_own_credential_never_the_team_key(stack):
    oai(stack, key=KEYS["engineering"]).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "who am I?"}])
    last = stack.sim_get("/_sim/last")
    # The simulator checked the key it received against the provider key Envoy holds.
    assert last["headers"]["authorization"] == "ok"
    assert "kt_cg_engineering_prod" not in str(last)
    assert "x-tollgate-provider" not in last["headers"]


def test_openai_stream_with_cached_tokens(stack, prices):
    raw = oai(stack, key=KEYS["engineering"]).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream me something " * 20}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-cached-tokens": "64", "x-tollgate-user": "bob"},
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    usage = [c.usage for c in chunks if c.usage]
    assert usage, "the client asked for stream usage and gets it"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["team"] == "team_engineering" and event["user"] == "bob" and event["stream"] is True
    u = usage[-1]
    assert u.prompt_tokens_details.cached_tokens == 64
    assert_priced(event, prices, OPENAI_LANE[1], {
        "input": u.prompt_tokens - 64, "cached_input": 64, "cache_write": 0, "output": u.completion_tokens})


def test_stream_usage_is_accounted_but_not_forced_on_clients(stack):
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "no usage chunk, please"}])
    chunks = list(raw.parse())
    assert chunks and all(c.choices for c in chunks), "no chunk without choices reaches the client"
    assert not any(c.usage for c in chunks)
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    # Tollgate asked the provider for usage itself, so the request is still priced exactly.
    assert event["usage_source"] == "reported" and event["tokens"]["output"] > 0


def test_openai_responses_api_json_and_stream(stack, prices):
    client = oai(stack, key=KEYS["finance"])
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="Summarise the quarter.")
    resp = raw.parse()
    assert resp.output_text
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "responses" and event["team"] == "team_finance"
    assert_priced(event, prices, OPENAI_LANE[1], {
        "input": resp.usage.input_tokens, "cached_input": 0, "cache_write": 0, "output": resp.usage.output_tokens})

    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="Stream the quarter.", stream=True)
    events = list(raw.parse())
    completed = [e for e in events if e.type == "response.completed"][0]
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["stream"] is True
    assert_priced(event, prices, OPENAI_LANE[1], {
        "input": completed.response.usage.input_tokens, "cached_input": 0, "cache_write": 0,
        "output": completed.response.usage.output_tokens})


def test_anthropic_messages_with_cache_reads_and_writes(stack, prices):
    raw = ant(stack).messages.with_raw_response.create(
        model="claude-haiku", max_tokens=200,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hi from the Anthropic SDK"}],
        metadata={"user_id": "carol"},
        extra_headers={"x-sim-cached-tokens": "5", "x-sim-cache-write-tokens": "3"},
    )
    msg = raw.parse()
    assert msg.content[0].text
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "messages" and event["provider"] == "anthropic"
    assert event["lane"] == ANTHROPIC_LANE[0] and event["user"] == "carol"
    u = msg.usage
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (5, 3)
    assert_priced(event, prices, ANTHROPIC_LANE[1], {
        "input": u.input_tokens, "cached_input": 5, "cache_write": 3, "output": u.output_tokens})
    assert usd_header_nanos(raw.headers) == event["cost_nanos"]


def test_anthropic_stream(stack, prices):
    client = ant(stack, key=KEYS["engineering"])
    with client.messages.stream(
        model="claude-haiku", max_tokens=10,
        messages=[{"role": "user", "content": "Stream a few words"}],
        extra_headers={"x-tollgate-workflow": "code-review"},
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        request_id = s.response.headers["x-tollgate-request-id"]
    assert text
    event = stack.wait_for_event(request_id)
    assert event["stream"] is True and event["workflow"] == "code-review"
    assert event["tokens"]["output"] == final.usage.output_tokens == 10
    assert_priced(event, prices, ANTHROPIC_LANE[1], {
        "input": final.usage.input_tokens, "cached_input": 0, "cache_write": 0, "output": 10})


def test_unknown_or_missing_key_is_401_and_nothing_goes_upstream(stack):
    before = stack.sim_get("/_sim/stats")
    with pytest.raises(openai.AuthenticationError) as e:
        oai(stack, key="kt_not_a_team").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 401
    assert e.value.code == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError) as e:
        ant(stack, key="kt_not_a_team").messages.create(
            model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["error"]["type"] == "authentication_error"
    r = requests.post(f"http://{stack.envoy}/v1/chat/completions", json={"model": "m", "messages": []}, timeout=5)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"
    assert stack.sim_get("/_sim/stats") == before


def test_bad_json_is_a_clear_400_and_recorded(stack):
    r = requests.post(
        f"http://{stack.envoy}/v1/chat/completions", data=b'{"model": "gpt-4o-mini", "messages": [',
        headers={"authorization": f"Bearer {KEYS['finance']}", "content-type": "application/json"}, timeout=5)
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]["message"]
    event = stack.wait_for_event(r.headers["x-tollgate-request-id"])
    assert event["outcome"] == "bad_request" and event["cost_nanos"] == 0 and event["team"] == "team_finance"


def test_provider_errors_reach_the_client_and_cost_nothing(stack):
    with pytest.raises(openai.RateLimitError) as e:
        oai(stack).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-sim-error": "429"})
    event = stack.wait_for_event(e.value.response.headers["x-tollgate-request-id"])
    assert event["outcome"] == "provider_error" and event["http_status"] == 429 and event["cost_nanos"] == 0


def test_spend_query_groups_by_team(stack):
    # Every event these requests produced, summed by the test, must equal the ledger's view.
    events = stack.events()
    by_team = {}
    for e in events:
        by_team[e["team"]] = by_team.get(e["team"], 0) + e["cost_nanos"]
    spend = stack.ledger_get("/v1/spend", group_by="team")
    got = {row["key"]["team"]: row["cost_nanos"] for row in spend["rows"]}
    assert got == by_team
    assert spend["total"]["cost_nanos"] == sum(by_team.values())
    assert set(got) >= {"team_support", "team_engineering", "team_finance"}


def raw_post(stack, path, headers: list[tuple[str, str]], body: dict):
    """A request whose headers may repeat (the SDKs never send a header twice)."""
    host, port = stack.envoy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    data = json.dumps(body).encode()
    conn.putrequest("POST", path)
    for name, value in headers + [("content-type", "application/json"), ("content-length", str(len(data)))]:
        conn.putheader(name, value)
    conn.endheaders(data)
    r = conn.getresponse()
    out = (r.status, r.read())
    conn.close()
    return out


def test_a_repeated_client_key_never_reaches_the_provider(stack):
    key = KEYS["engineering"]
    # x-api-key twice (Anthropic style): served, and the provider gets exactly one
    # credential, its own.
    status, answer = raw_post(
        stack, "/v1/messages", [("x-api-key", key), ("x-api-key", key), ("anthropic-version", "2023-06-01")],
        {"model": "claude-haiku", "max_tokens": 8, "messages": [{"role": "user", "content": "twice"}]})
    assert status == 200, answer
    last = stack.sim_get("/_sim/last")
    assert last["headers"]["x-api-key"] == "ok"
    assert "authorization" not in last["headers"] and key not in str(last)
    # Authorization twice: Envoy joins repeated Authorization values into one
    # ("Bearer k,Bearer k"), which is no team key: refused before any provider is called.
    served = stack.sim_get("/_sim/stats")
    status, answer = raw_post(
        stack, "/v1/chat/completions", [("authorization", f"Bearer {key}"), ("authorization", f"Bearer {key}")],
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "twice"}]})
    assert status == 401 and json.loads(answer)["error"]["code"] == "invalid_api_key"
    assert stack.sim_get("/_sim/stats") == served
