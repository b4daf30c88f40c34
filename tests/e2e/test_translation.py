"""Unchanged clients on the other provider's lane: OpenAI SDK → Anthropic lane and
Anthropic SDK → OpenAI lane, JSON and streaming, errors translated, untranslatable
features refused with a clear 400."""

import anthropic
import openai
import pytest

from conftest import KEYS, expected_cost_nanos


def oai(stack):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)


def ant(stack):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)


def test_openai_client_served_by_the_anthropic_lane(stack, prices):
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="claude-haiku", max_tokens=50,
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Translate me, please"}],
        extra_headers={"x-sim-cached-tokens": "2"})
    completion = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "anthropic-haiku"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content.startswith("Simulated answer from claude-haiku")
    assert completion.choices[0].finish_reason == "stop"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "chat_completions" and event["provider"] == "anthropic"
    # Anthropic reports input without cache reads; OpenAI's prompt_tokens includes them.
    u = completion.usage
    assert u.prompt_tokens_details.cached_tokens == 2
    tokens = {"input": u.prompt_tokens - 2, "cached_input": 2, "cache_write": 0, "output": u.completion_tokens}
    assert event["tokens"] == tokens
    assert event["cost_nanos"] == expected_cost_nanos(prices["claude-haiku"], tokens)


def test_openai_stream_served_by_the_anthropic_lane(stack):
    raw = oai(stack).chat.completions.with_raw_response.create(
        model="claude-haiku", max_tokens=12, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream through translation"}])
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated answer")
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].completion_tokens == 12
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["stream"] is True and event["tokens"]["output"] == 12 and event["provider"] == "anthropic"


def test_anthropic_client_served_by_the_openai_lane(stack, prices):
    raw = ant(stack).messages.with_raw_response.create(
        model="gpt-5.4-mini-mini", max_tokens=64, system="You are terse.",
        messages=[{"role": "user", "content": "Hello from the Anthropic SDK"}])
    msg = raw.parse()
    assert raw.headers["x-tollgate-lane"] == "openai-gpt4o-mini"
    assert msg.type == "message" and msg.content[0].text.startswith("Simulated answer")
    assert msg.stop_reason == "end_turn"
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["api"] == "messages" and event["provider"] == "openai"
    tokens = {"input": msg.usage.input_tokens, "cached_input": 0, "cache_write": 0, "output": msg.usage.output_tokens}
    assert event["tokens"] == tokens
    assert event["cost_nanos"] == expected_cost_nanos(prices["gpt-5.4-mini-mini"], tokens)


def test_anthropic_stream_served_by_the_openai_lane(stack):
    with ant(stack).messages.stream(
        model="gpt-5.4-mini-mini", max_tokens=10,
        messages=[{"role": "user", "content": "Stream it the other way"}],
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        request_id = s.response.headers["x-tollgate-request-id"]
    assert text.startswith("Simulated answer")
    assert final.usage.output_tokens == 10 and final.stop_reason == "max_tokens"
    event = stack.wait_for_event(request_id)
    assert event["provider"] == "openai" and event["tokens"]["output"] == 10


def test_provider_errors_arrive_in_the_clients_format(stack):
    with pytest.raises(openai.RateLimitError):
        oai(stack).chat.completions.create(
            model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "limit me"}],
            extra_headers={"x-sim-error": "429"})
    with pytest.raises(anthropic.InternalServerError):
        ant(stack).messages.create(
            model="gpt-5.4-mini-mini", max_tokens=5, messages=[{"role": "user", "content": "break me"}],
            extra_headers={"x-sim-error": "500"})


def test_untranslatable_features_are_refused_not_dropped(stack):
    before = sum(stack.sim_get("/_sim/stats")["requests"].values())
    with pytest.raises(openai.BadRequestError) as e:
        oai(stack).chat.completions.create(
            model="claude-haiku", n=2, messages=[{"role": "user", "content": "two answers"}])
    assert "n" in e.value.message
    assert sum(stack.sim_get("/_sim/stats")["requests"].values()) == before
