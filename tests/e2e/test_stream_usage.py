"""The usage chunk of an OpenAI chat stream, end to end with the official SDK.

Tollgate asks every chat stream for `stream_options.include_usage` so that it can
price it. A client that did not ask for it must never receive the usage-only chunk
(`choices: []` plus `usage`) that this adds, whatever path the answer takes: the
lane's own stream, a stream replayed from the response cache, a fallback lane's stream,
a stream translated from an Anthropic lane. A client that did ask gets it on every
path. The cost is the same either way: gpt-4o-mini at $0.15 input / $0.60 output per
million tokens.
"""

import uuid

import openai
import pytest
import yaml

import stack as harness
from conftest import CONFIG, KEYS

MINI = {"input": 150_000, "output": 600_000}  # micro-dollars per million tokens


def nanos(tokens: dict) -> int:
    picos = sum(n * MINI[kind] for kind, n in tokens.items())
    return (picos + 500) // 1000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("stream-usage")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = True
    # Cross-provider fallback is opt-in through an alias.
    doc["providers"]["routing"] = {"strategy": "priority", "max_attempts": 2, "failures_to_cool_down": 100,
                                   "aliases": {"mini-or-claude": ["primary", "claude"]}}
    doc["providers"]["targets"] = [
        {"id": "primary", "provider": "openai", "model": "gpt-4o-mini", "priority": 0,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "backup", "provider": "openai", "model": "gpt-4o-mini", "priority": 1,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "claude", "provider": "anthropic", "model": "claude-haiku-4-5", "priority": 2,
         "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}},
    ]
    for g in doc["consumer_groups"]:
        if g["name"] == "support":
            g["workflow_lanes"] = {"claude-only": ["claude"]}
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


def stream(stack, content, include_usage=None, headers=None, model="gpt-4o-mini"):
    """An official-SDK chat stream: its chunks and its response headers."""
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)
    extra = {} if include_usage is None else {"stream_options": {"include_usage": include_usage}}
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], stream=True,
        extra_headers=headers or {}, **extra)
    return list(raw.parse()), raw.headers


def usage_chunks(chunks):
    return [c for c in chunks if c.usage is not None or not c.choices]


def text(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def unique(label):
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def test_a_cached_stream_has_the_usage_chunk_only_for_clients_that_asked(stack):
    content = unique("Summarise the refund policy.")
    miss, h_miss = stream(stack, content)
    assert h_miss.get("x-tollgate-cache") is None and text(miss)
    assert usage_chunks(miss) == []
    event = stack.wait_for_event(h_miss["x-tollgate-request-id"])
    tokens = {"input": event["tokens"]["input"], "output": event["tokens"]["output"]}
    assert event["usage_source"] == "reported" and tokens["output"] > 0
    assert event["cost_nanos"] == nanos(tokens)

    for asked in (None, False):
        hit, h_hit = stream(stack, content, include_usage=asked)
        assert h_hit["x-tollgate-cache"] == "hit"
        assert text(hit) == text(miss)
        assert usage_chunks(hit) == [], f"include_usage={asked}"

    hit, h_hit = stream(stack, content, include_usage=True)
    assert h_hit["x-tollgate-cache"] == "hit" and text(hit) == text(miss)
    [last] = usage_chunks(hit)
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (tokens["input"], tokens["output"])
    event = stack.wait_for_event(h_hit["x-tollgate-request-id"])
    assert event["cache"] == "hit" and event["cost_nanos"] == 0
    assert event["cost_avoided_nanos"] == nanos(tokens)


@pytest.mark.parametrize("include_usage", [None, True])
def test_a_fallback_lanes_stream_has_the_usage_chunk_only_if_asked(stack, include_usage):
    chunks, headers = stream(stack, unique("fall over"), include_usage=include_usage,
                             headers={"x-sim-error": "500"})
    assert headers["x-tollgate-lane"] == "backup" and text(chunks)
    event = stack.wait_for_event(headers["x-tollgate-request-id"])
    tokens = {"input": event["tokens"]["input"], "output": event["tokens"]["output"]}
    assert event["lane"] == "backup" and event["usage_source"] == "reported"
    assert event["cost_nanos"] == nanos(tokens) > 0
    if include_usage:
        [last] = usage_chunks(chunks)
        assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (tokens["input"], tokens["output"])
    else:
        assert usage_chunks(chunks) == []


@pytest.mark.parametrize("workflow", ["claude-only", "to-claude"])
@pytest.mark.parametrize("include_usage", [None, True])
def test_a_translated_stream_has_the_usage_chunk_only_if_asked(stack, workflow, include_usage):
    if workflow == "to-claude":
        # The OpenAI lane fails: the Anthropic lane of the alias serves.
        headers, model = {"x-sim-error": "500"}, "mini-or-claude"
    else:
        headers, model = {"x-tollgate-workflow": workflow}, "gpt-4o-mini"
    chunks, h = stream(stack, unique("translate me"), include_usage=include_usage, headers=headers,
                       model=model)
    assert h["x-tollgate-lane"] == "claude" and text(chunks)
    event = stack.wait_for_event(h["x-tollgate-request-id"])
    assert event["lane"] == "claude" and event["usage_source"] == "reported"
    if include_usage:
        [last] = usage_chunks(chunks)
        assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (
            event["tokens"]["input"], event["tokens"]["output"])
    else:
        assert usage_chunks(chunks) == []
