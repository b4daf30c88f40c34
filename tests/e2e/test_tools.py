"""Tool calls and structured output through Tollgate on the real Envoy, as clients use
them: the official SDKs' tool and `parse` helpers (whose stream accumulators fail on a
malformed delta) and LangChain's `bind_tools` / `with_structured_output`, each on its
own provider's lane and translated to the other's, with usage and cost recorded
exactly."""

import json
import math
import time
import uuid
from typing import Literal

import anthropic
import openai
import pytest
from pydantic import BaseModel

from conftest import (ANTHROPIC_TOOLS, KEYS, OPENAI_TOOLS, WEATHER_ARGS, WEATHER_SCHEMA, Day, GetWeather,
                      expected_cost_nanos)

# (client model, lane, price key): the provider's own lane, then the other provider's.
OPENAI_CLIENT_LANES = [
    pytest.param(("gpt-4o-mini", "openai-gpt4o-mini", "gpt-5.4-mini-mini"), id="openai-lane"),
    pytest.param(("claude-haiku", "anthropic-haiku", "claude-haiku"), id="translated-to-anthropic"),
]
ANTHROPIC_CLIENT_LANES = [
    pytest.param(("claude-haiku", "anthropic-haiku", "claude-haiku"), id="anthropic-lane"),
    pytest.param(("gpt-5.4-mini-mini", "openai-gpt4o-mini", "gpt-5.4-mini-mini"), id="translated-to-openai"),
]


class Forecast(BaseModel):
    city: str
    unit: Literal["celsius", "fahrenheit"]
    days: list[Day]
    today: Day


# What the simulator's model answers for the forecast schema: a minimal valid instance.
FORECAST = Forecast(city="sim", unit="celsius", days=[], today=Day(summary="sim", high=0))


def oai(stack):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)


def ant(stack):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)


def new_user() -> str:
    """A user label that finds this test's cost event in the ledger. Prompts carry it
    too, so no call is answered from Tollgate's response cache (a hit costs nothing)."""
    return f"tools-{uuid.uuid4().hex[:12]}"


def tokens_for(document) -> int:
    """Output tokens the simulator counts for a JSON answer: ceil(compact bytes / 4)."""
    return math.ceil(len(json.dumps(document, separators=(",", ":"))) / 4)


def assert_recorded(stack, prices, user, lane, input_tokens, output_tokens, before=None):
    """The one cost event of this call is on `lane`, with exactly the reported usage,
    priced. The call is found by its `user`, or (for clients that cannot name one) as
    the one event on the lane that is not among the ids in `before`."""
    tokens = {"input": input_tokens, "cached_input": 0, "cache_write": 0, "output": output_tokens}
    deadline = time.time() + 15
    mine = []
    while time.time() < deadline and not mine:
        events = stack.events(lane=lane[1])
        if before is None:
            mine = [e for e in events if e.get("user") == user]
        else:
            mine = [e for e in events if e["id"] not in before]
        time.sleep(0.1)
    assert len(mine) == 1, f"expected one event for this call on {lane[1]}, got {mine}"
    event = mine[0]
    assert event["outcome"] == "ok" and event["tokens"] == tokens
    assert event["cost_nanos"] == expected_cost_nanos(prices[lane[2]], tokens) > 0
    return event


def event_ids(stack, lane):
    """Ids of the events already recorded on `lane`."""
    time.sleep(0.5)  # let the previous calls' events land first
    return {e["id"] for e in stack.events(lane=lane[1])}


# --- OpenAI SDK ---------------------------------------------------------------------


@pytest.mark.parametrize("lane", OPENAI_CLIENT_LANES)
def test_openai_tool_call_then_answer_after_the_result(stack, prices, lane):
    client, user = oai(stack), new_user()
    question = [{"role": "user", "content": f"What is the weather in Paris? {user}"}]
    completion = client.chat.completions.create(
        model=lane[0], messages=question, tools=OPENAI_TOOLS, user=user)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert completion.usage.completion_tokens == tokens_for(WEATHER_ARGS)
    assert_recorded(stack, prices, user, lane, completion.usage.prompt_tokens, completion.usage.completion_tokens)

    # The tool's result goes back; under `auto` the model now answers in text.
    history = question + [choice.message.model_dump(exclude_none=True),
                          {"role": "tool", "tool_call_id": call.id, "content": "18 degrees, sunny"}]
    answer = client.chat.completions.create(model=lane[0], messages=history, tools=OPENAI_TOOLS)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content.startswith("Simulated answer")
    assert not answer.choices[0].message.tool_calls


@pytest.mark.parametrize("lane", OPENAI_CLIENT_LANES)
def test_openai_streamed_tool_call_accumulates_to_parsed_arguments(stack, prices, lane):
    user = new_user()
    with oai(stack).chat.completions.stream(
        model=lane[0], user=user, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": f"Weather in Oslo, please {user}"}],
        tools=[openai.pydantic_function_tool(GetWeather)], tool_choice="required",
    ) as stream:
        argument_deltas = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(argument_deltas) > 1, "arguments arrive in several fragments"
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.id and call.function.name == "GetWeather"
    assert call.function.parsed_arguments == GetWeather(**WEATHER_ARGS)
    assert final.usage.completion_tokens == tokens_for(WEATHER_ARGS)
    assert_recorded(stack, prices, user, lane, final.usage.prompt_tokens, final.usage.completion_tokens)


@pytest.mark.parametrize("lane", OPENAI_CLIENT_LANES)
def test_openai_structured_output_parses_into_the_model(stack, prices, lane):
    client, user = oai(stack), new_user()
    completion = client.chat.completions.parse(
        model=lane[0], user=user, response_format=Forecast,
        messages=[{"role": "user", "content": f"Forecast for Rome {user}"}])
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert message.parsed == FORECAST
    assert completion.usage.completion_tokens == tokens_for(json.loads(message.content))
    assert_recorded(stack, prices, user, lane, completion.usage.prompt_tokens, completion.usage.completion_tokens)

    with client.chat.completions.stream(
        model=lane[0], response_format=Forecast,
        messages=[{"role": "user", "content": f"Stream the forecast for Rome {user}"}],
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == FORECAST


def test_openai_json_mode_answers_json_on_openai_and_is_refused_translated(stack):
    """JSON mode promises any JSON object, with no schema; Anthropic only constrains
    output to a schema, so the translated request is refused rather than prompted."""
    client = oai(stack)
    messages = [{"role": "user", "content": f"Some JSON please {new_user()}"}]
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, response_format={"type": "json_object"})
    assert isinstance(json.loads(completion.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="claude-haiku", messages=messages,
                                       response_format={"type": "json_object"})
    assert "`response_format`" in refused.value.message and "json_schema" in refused.value.message


def test_openai_responses_function_call_and_text_format(stack, prices):
    client, user = oai(stack), new_user()
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True}]
    response = client.responses.create(model="gpt-4o-mini", input=f"Weather in Paris? {user}", tools=tools, user=user)
    [call] = response.output
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == WEATHER_ARGS
    assert response.usage.output_tokens == tokens_for(WEATHER_ARGS)
    lane = ("gpt-4o-mini", "openai-gpt4o-mini", "gpt-5.4-mini-mini")
    assert_recorded(stack, prices, user, lane, response.usage.input_tokens, response.usage.output_tokens)

    with client.responses.stream(model="gpt-4o-mini", input=f"Weather in Oslo? {user}", tools=tools,
                                 tool_choice="required") as stream:
        deltas = [e for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1 and json.loads(final.output[0].arguments) == WEATHER_ARGS

    # After the call's output, the model answers in text.
    follow_up = client.responses.create(model="gpt-4o-mini", tools=tools, input=[
        {"role": "user", "content": f"Weather in Paris? {user}"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"}])
    assert follow_up.output_text.startswith("Simulated answer")

    parsed = client.responses.parse(model="gpt-4o-mini", input=f"Forecast for Rome {user}", text_format=Forecast)
    assert parsed.output_parsed == FORECAST


# --- Anthropic SDK ------------------------------------------------------------------


@pytest.mark.parametrize("lane", ANTHROPIC_CLIENT_LANES)
def test_anthropic_tool_use_then_answer_after_the_result(stack, prices, lane):
    client, user = ant(stack), new_user()
    question = [{"role": "user", "content": f"What is the weather in Paris? {user}"}]
    msg = client.messages.create(
        model=lane[0], max_tokens=200, messages=question, tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"}, metadata={"user_id": user})
    assert msg.stop_reason == "tool_use"
    [block] = msg.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == WEATHER_ARGS
    assert msg.usage.output_tokens == tokens_for(WEATHER_ARGS)
    assert_recorded(stack, prices, user, lane, msg.usage.input_tokens, msg.usage.output_tokens)

    # `any` calls the first tool offered.
    any_msg = client.messages.create(model=lane[0], max_tokens=200, messages=question,
                                     tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"})
    assert any_msg.stop_reason == "tool_use" and any_msg.content[0].name == "get_time"

    history = question + [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18 degrees"}]},
    ]
    answer = client.messages.create(model=lane[0], max_tokens=200, messages=history, tools=ANTHROPIC_TOOLS)
    assert answer.stop_reason == "end_turn"
    assert [b.type for b in answer.content] == ["text"]
    assert answer.content[0].text.startswith("Simulated answer")


@pytest.mark.parametrize("lane", ANTHROPIC_CLIENT_LANES)
def test_anthropic_streamed_tool_use_accumulates_its_input(stack, prices, lane):
    user = new_user()
    with ant(stack).messages.stream(
        model=lane[0], max_tokens=200, metadata={"user_id": user},
        messages=[{"role": "user", "content": f"Weather in Oslo, please {user}"}],
        tools=ANTHROPIC_TOOLS[1:],
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    partials = [e for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert len(partials) > 1, "the input arrives in several fragments"
    assert final.stop_reason == "tool_use"
    [block] = final.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == WEATHER_ARGS
    assert block.id
    assert final.usage.output_tokens == tokens_for(WEATHER_ARGS)
    assert_recorded(stack, prices, user, lane, final.usage.input_tokens, final.usage.output_tokens)


@pytest.mark.parametrize("lane", ANTHROPIC_CLIENT_LANES)
def test_anthropic_structured_output_parses_into_the_model(stack, prices, lane):
    client, user = ant(stack), new_user()
    msg = client.messages.parse(
        model=lane[0], max_tokens=500, output_format=Forecast, metadata={"user_id": user},
        messages=[{"role": "user", "content": f"Forecast for Rome {user}"}])
    assert msg.stop_reason == "end_turn"
    assert msg.parsed_output == FORECAST
    assert msg.usage.output_tokens == tokens_for(json.loads(msg.content[0].text))
    assert_recorded(stack, prices, user, lane, msg.usage.input_tokens, msg.usage.output_tokens)

    with client.messages.stream(
        model=lane[0], max_tokens=500, output_format=Forecast,
        messages=[{"role": "user", "content": f"Stream the forecast for Rome {user}"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.parsed_output == FORECAST


# --- LangChain ----------------------------------------------------------------------


@pytest.mark.parametrize("lane", OPENAI_CLIENT_LANES)
def test_langchain_chat_openai_binds_tools_and_structures_output(stack, prices, lane):
    from langchain_openai import ChatOpenAI

    def model(user):
        return ChatOpenAI(model=lane[0], base_url=stack.openai_base_url, api_key=KEYS["support"],
                          max_retries=0, model_kwargs={"user": user})

    user = new_user()
    reply = model(user).bind_tools([GetWeather]).invoke(f"What is the weather in Paris? {user}")
    [call] = reply.tool_calls
    assert call["name"] == "GetWeather" and call["args"] == WEATHER_ARGS
    assert_recorded(stack, prices, user, lane,
                    reply.usage_metadata["input_tokens"], reply.usage_metadata["output_tokens"])

    user = new_user()
    out = model(user).with_structured_output(Forecast, include_raw=True).invoke(f"Forecast for Rome {user}")
    assert out["parsing_error"] is None and out["parsed"] == FORECAST
    usage = out["raw"].usage_metadata
    assert_recorded(stack, prices, user, lane, usage["input_tokens"], usage["output_tokens"])


@pytest.mark.parametrize("lane", ANTHROPIC_CLIENT_LANES)
def test_langchain_chat_anthropic_binds_tools_and_structures_output(stack, prices, lane):
    from langchain_anthropic import ChatAnthropic

    # ChatAnthropic cannot send `metadata.user_id`, so the call is found as the lane's
    # one new event.
    model = ChatAnthropic(model=lane[0], base_url=stack.anthropic_base_url, api_key=KEYS["engineering"],
                          max_retries=0, max_tokens=500)

    user = new_user()
    before = event_ids(stack, lane)
    reply = model.bind_tools([GetWeather]).invoke(f"What is the weather in Paris? {user}")
    [call] = reply.tool_calls
    assert call["name"] == "GetWeather" and call["args"] == WEATHER_ARGS
    assert_recorded(stack, prices, None, lane,
                    reply.usage_metadata["input_tokens"], reply.usage_metadata["output_tokens"], before)

    # Both ways LangChain structures Claude's output: a forced tool call (the default)
    # and Anthropic's structured-output format.
    for method in ("function_calling", "json_schema"):
        user = new_user()
        before = event_ids(stack, lane)
        out = model.with_structured_output(Forecast, method=method, include_raw=True).invoke(
            f"Forecast for Rome {user}")
        assert out["parsing_error"] is None and out["parsed"] == FORECAST, method
        usage = out["raw"].usage_metadata
        assert_recorded(stack, prices, None, lane, usage["input_tokens"], usage["output_tokens"], before)
