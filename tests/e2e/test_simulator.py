"""The provider simulator on its own (no Envoy), driven by the official SDKs.

Checks that the `openai` and `anthropic` SDKs accept its answers unchanged, that usage
follows the documented deterministic rule, and that the `x-sim-*` control headers work:

* input tokens  = ceil(UTF-8 bytes of all request text / 4), at least 1
* answer words  = min(max-tokens limit, 24) (24 without a limit)
* output tokens = whitespace-separated words in the answer text

Binary: $TOLLGATE_SIM_BIN, default target/release/tollgate-sim (`make build`).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import anthropic
import openai
import pytest
import requests

import stack as harness

ROOT = Path(__file__).resolve().parents[2]
# The same binary every other end-to-end test uses (target/release unless overridden).
SIM_BIN = harness.binary("TOLLGATE_SIM_BIN", "tollgate-sim")
OPENAI_KEY = "sk-sim-openai"
ANTHROPIC_KEY = "sk-sim-anthropic"
FULL_ANSWER_WORDS = 24


class Simulator:
    """One simulator process on a free port; stopped by its PID."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [str(SIM_BIN), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("tollgate-sim listening on http://"), f"unexpected first line: {line!r}"
        self.addr = line.strip().rsplit("http://", 1)[1]
        assert not self.addr.endswith(":0"), "the real bound port is printed"
        self.base = f"http://{self.addr}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode

    def get(self, path: str):
        return requests.get(self.base + path, timeout=5)


@pytest.fixture(scope="module")
def sim():
    s = Simulator()
    yield s
    s.stop()


def oai(sim, key=OPENAI_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.base}/v1", api_key=key, max_retries=0)


def ant(sim, key=ANTHROPIC_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base, api_key=key, max_retries=0)


def input_tokens(*texts: str) -> int:
    """The simulator's rule: ceil(total UTF-8 bytes / 4), at least 1."""
    return max(1, math.ceil(sum(len(t.encode()) for t in texts) / 4))


def words(text: str) -> int:
    return len(text.split())


# --- OpenAI Chat Completions -------------------------------------------------------

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello there, Tollgate! Ünïcödé counts in bytes."},
]
CHAT_INPUT = input_tokens("Be brief.", "Hello there, Tollgate! Ünïcödé counts in bytes.")


def test_chat_completion_json(sim):
    raw = oai(sim).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=CHAT)
    c = raw.parse()
    assert raw.headers["x-sim-received-auth"] == "ok"
    assert raw.headers["x-request-id"].startswith("req_")
    assert c.object == "chat.completion" and c.id.startswith("chatcmpl-")
    assert c.model == "gpt-4o-mini"
    assert c.system_fingerprint
    choice = c.choices[0]
    assert choice.message.role == "assistant" and choice.message.refusal is None
    assert choice.message.content.startswith("Simulated answer from gpt-4o-mini:")
    assert choice.finish_reason == "stop"
    assert words(choice.message.content) == FULL_ANSWER_WORDS
    u = c.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (CHAT_INPUT, 24, CHAT_INPUT + 24)
    assert u.prompt_tokens_details.cached_tokens == 0
    assert u.completion_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_chat_completion_limit_cuts_answer(sim, field):
    c = oai(sim).chat.completions.create(model="gpt-4o", messages=CHAT, **{field: 7})
    assert c.choices[0].finish_reason == "length"
    assert c.usage.completion_tokens == words(c.choices[0].message.content) == 7


def test_chat_stream_with_usage_matches_json(sim):
    client = oai(sim)
    headers = {"x-sim-cached-tokens": "3"}
    whole = client.chat.completions.create(model="gpt-4o", messages=CHAT, max_tokens=12, extra_headers=headers)
    chunks = list(client.chat.completions.create(
        model="gpt-4o", messages=CHAT, max_tokens=12, extra_headers=headers,
        stream=True, stream_options={"include_usage": True}))

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 3, "content arrives in several deltas"
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]

    # Only the extra last chunk, with no choices, carries usage.
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert last.usage.model_dump() == whole.usage.model_dump()
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (CHAT_INPUT, 12)
    assert last.usage.prompt_tokens_details.cached_tokens == 3


def test_chat_stream_without_include_usage_has_no_usage(sim):
    raw = requests.post(
        f"{sim.base}/v1/chat/completions", timeout=5,
        headers={"authorization": f"Bearer {OPENAI_KEY}"},
        json={"model": "gpt-4o", "messages": CHAT, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in raw.text.split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all("usage" not in c and c["choices"] for c in chunks)


# --- OpenAI Responses API ----------------------------------------------------------


def test_responses_json(sim):
    raw = oai(sim).responses.with_raw_response.create(
        model="gpt-4o-mini", instructions="Answer tersely.", input="Summarise the quarter.",
        extra_headers={"x-sim-cached-tokens": "2"})
    r = raw.parse()
    assert r.object == "response" and r.id.startswith("resp_") and r.status == "completed"
    assert r.model == "gpt-4o-mini"
    assert r.output[0].type == "message" and r.output[0].content[0].type == "output_text"
    assert r.output_text.startswith("Simulated answer from gpt-4o-mini:")
    expected_in = input_tokens("Answer tersely.", "Summarise the quarter.")
    u = r.usage
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (expected_in, 24, expected_in + 24)
    assert u.input_tokens_details.cached_tokens == 2
    assert u.output_tokens_details.reasoning_tokens == 0


def test_responses_stream_event_sequence(sim):
    client = oai(sim)
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Stream the quarter."}]}]
    whole = client.responses.create(model="gpt-4o", input=items)
    events = list(client.responses.create(model="gpt-4o", input=items, stream=True))

    types = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert types == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", *["response.output_text.delta"] * len(deltas),
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert len(deltas) >= 3
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(d.delta for d in deltas)
    assert text == whole.output_text
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == text
    assert completed.usage.model_dump() == whole.usage.model_dump()
    assert completed.usage.input_tokens == input_tokens("Stream the quarter.")


def test_responses_stream_helper(sim):
    with oai(sim).responses.stream(model="gpt-4o", input="Stream via the helper") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == text
    assert final.usage.input_tokens == input_tokens("Stream via the helper")
    assert final.usage.output_tokens == words(text) == FULL_ANSWER_WORDS


def test_responses_output_limit_is_incomplete(sim):
    # Like the real API, a max_output_tokens cut reports status `incomplete` and the
    # stream ends with `response.incomplete` (usage included) instead of `.completed`.
    client = oai(sim)
    whole = client.responses.create(model="gpt-4o", input="Short please", max_output_tokens=5)
    assert whole.status == "incomplete" and whole.incomplete_details.reason == "max_output_tokens"
    assert whole.usage.output_tokens == words(whole.output_text) == 5
    events = list(client.responses.create(model="gpt-4o", input="Short please", max_output_tokens=5, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.usage.model_dump() == whole.usage.model_dump()


# --- Anthropic Messages ------------------------------------------------------------


def test_anthropic_message_with_cache_reads_and_writes(sim):
    raw = ant(sim).messages.with_raw_response.create(
        model="claude-haiku", max_tokens=200, system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hi from the Anthropic SDK, again"}]}],
        extra_headers={"x-sim-cached-tokens": "5", "x-sim-cache-write-tokens": "3"})
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["x-sim-received-auth"] == "ok"
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_")
    assert m.model == "claude-haiku" and m.stop_reason == "end_turn" and m.stop_sequence is None
    assert m.content[0].type == "text" and words(m.content[0].text) == FULL_ANSWER_WORDS
    total = input_tokens("You are terse.", "Hi from the Anthropic SDK, again")
    u = m.usage
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (5, 3)
    assert u.input_tokens == total - 5 - 3
    assert u.output_tokens == FULL_ANSWER_WORDS


def test_anthropic_stream_matches_json(sim):
    client = ant(sim)
    request = dict(model="claude-haiku", max_tokens=10, messages=[{"role": "user", "content": "Stream a few words"}])
    whole = client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == whole.usage.output_tokens == words(text) == 10
    assert final.usage.input_tokens == whole.usage.input_tokens == input_tokens("Stream a few words")


def test_anthropic_raw_event_sequence(sim):
    r = requests.post(
        f"{sim.base}/v1/messages", timeout=5,
        headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude-haiku", "max_tokens": 50, "stream": True,
              "messages": [{"role": "user", "content": "x" * 40}]})
    frames = [f for f in r.text.split("\n\n") if f]
    events = []
    for frame in frames:
        name_line, data_line = frame.split("\n")
        name = name_line.removeprefix("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        events.append(data)
    names = [e["type"] for e in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"} and len(names[3:-3]) >= 3
    start_usage = events[0]["message"]["usage"]
    assert start_usage["input_tokens"] == 10 and start_usage["output_tokens"] == 1
    # The final usage is cumulative, as the API sends it: input figures again, the
    # output count, and server tool use (none here).
    assert events[-2]["usage"] == {"input_tokens": 10, "cache_creation_input_tokens": 0,
                                   "cache_read_input_tokens": 0, "output_tokens": 24,
                                   "server_tool_use": None}


# --- Credentials and errors --------------------------------------------------------


def test_wrong_keys_are_authentication_errors(sim):
    with pytest.raises(openai.AuthenticationError) as e:
        oai(sim, key="sk-wrong").chat.completions.create(model="gpt-4o", messages=CHAT)
    assert e.value.code == "invalid_api_key"
    assert e.value.response.headers["x-sim-received-auth"] == "bad"
    assert "sk-wrong" not in e.value.response.text
    with pytest.raises(anthropic.AuthenticationError) as e:
        ant(sim, key="sk-wrong").messages.create(
            model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["type"] == "error"
    assert e.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    # The OpenAI key is not an Anthropic key.
    with pytest.raises(anthropic.AuthenticationError):
        ant(sim, key=OPENAI_KEY).messages.create(
            model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "hi"}])


def test_anthropic_accepts_x_api_key_or_bearer_but_not_a_stray_second_key(sim):
    def post(headers):
        return requests.post(f"{sim.base}/v1/messages", timeout=5,
                             headers={"anthropic-version": "2023-06-01", **headers},
                             json={"model": "claude-haiku", "max_tokens": 5,
                                   "messages": [{"role": "user", "content": "hi"}]})
    assert post({"x-api-key": ANTHROPIC_KEY}).status_code == 200
    assert post({"authorization": f"Bearer {ANTHROPIC_KEY}"}).status_code == 200
    # A client key left beside the provider key is refused, so leaks fail loudly.
    r = post({"x-api-key": ANTHROPIC_KEY, "authorization": "Bearer kt_team_key"})
    assert r.status_code == 401 and r.headers["x-sim-received-auth"] == "bad"
    r = post({})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = requests.post(f"{sim.base}/v1/messages", timeout=5, headers={"x-api-key": ANTHROPIC_KEY},
                      json={"model": "claude-haiku", "max_tokens": 5, "messages": []})
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]


def test_injected_rate_limits(sim):
    with pytest.raises(openai.RateLimitError) as e:
        oai(sim).chat.completions.create(model="gpt-4o", messages=CHAT, extra_headers={"x-sim-error": "429"})
    assert e.value.response.headers["retry-after"] == "1"
    assert e.value.code == "rate_limit_exceeded"
    with pytest.raises(anthropic.RateLimitError) as e:
        ant(sim).messages.create(model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "hi"}],
                                 extra_headers={"x-sim-error": "429"})
    assert e.value.response.headers["retry-after"] == "1"
    assert e.value.body["error"]["type"] == "rate_limit_error"


def test_injected_server_errors(sim):
    with pytest.raises(openai.InternalServerError) as e:
        oai(sim).responses.create(model="gpt-4o", input="hi", extra_headers={"x-sim-error": "500"})
    assert e.value.status_code == 500 and e.value.body["type"] == "server_error"
    with pytest.raises(anthropic.InternalServerError) as e:
        ant(sim).messages.create(model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "hi"}],
                                 extra_headers={"x-sim-error": "529"})
    assert e.value.status_code == 529 and e.value.body["error"]["type"] == "overloaded_error"


def test_malformed_json_is_400_in_each_shape(sim):
    r = requests.post(f"{sim.base}/v1/chat/completions", data=b'{"model": ', timeout=5,
                      headers={"authorization": f"Bearer {OPENAI_KEY}", "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = requests.post(f"{sim.base}/v1/messages", data=b"[", timeout=5,
                      headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"


def test_no_usage_omits_usage(sim):
    c = oai(sim).chat.completions.create(model="gpt-4o", messages=CHAT, extra_headers={"x-sim-error": "no-usage"})
    assert c.choices[0].message.content and c.usage is None
    chunks = list(oai(sim).chat.completions.create(
        model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True},
        extra_headers={"x-sim-error": "no-usage"}))
    assert all(c.usage is None for c in chunks) and chunks[-1].choices
    r = requests.post(f"{sim.base}/v1/messages", timeout=5,
                      headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01",
                               "x-sim-error": "no-usage"},
                      json={"model": "claude-haiku", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and "usage" not in r.json()


def test_broken_stream_aborts_mid_stream(sim):
    stream = oai(sim).chat.completions.create(
        model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True},
        extra_headers={"x-sim-error": "broken-stream"})
    received = []
    with pytest.raises(Exception) as e:  # the transport's "connection closed mid-body" error
        for chunk in stream:
            received.append(chunk)
    assert not isinstance(e.value, AssertionError)
    assert received, "some chunks arrive before the break"
    assert all(c.usage is None for c in received)

    with pytest.raises(Exception) as e:
        with ant(sim).messages.stream(model="claude-haiku", max_tokens=24,
                                      messages=[{"role": "user", "content": "hi"}],
                                      extra_headers={"x-sim-error": "broken-stream"}) as s:
            s.get_final_message()
    assert not isinstance(e.value, AssertionError)

    # A JSON answer is cut off mid-body.
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(f"{sim.base}/v1/chat/completions", timeout=5,
                      headers={"authorization": f"Bearer {OPENAI_KEY}", "x-sim-error": "broken-stream"},
                      json={"model": "gpt-4o", "messages": CHAT})


def test_latency_header_delays_the_answer(sim):
    started = time.monotonic()
    oai(sim).chat.completions.create(model="gpt-4o", messages=CHAT, extra_headers={"x-sim-latency-ms": "300"})
    assert time.monotonic() - started >= 0.3


# --- Harness endpoints -------------------------------------------------------------


def test_last_request_is_recorded_without_credentials(sim):
    ant(sim).messages.create(model="claude-haiku", max_tokens=5, messages=[{"role": "user", "content": "remember me"}],
                             extra_headers={"x-custom-trace": "abc"})
    last = sim.get("/_sim/last").json()
    assert last["path"] == "/v1/messages"
    # This SDK version sends the Anthropic key as `Authorization: Bearer`.
    assert last["headers"]["authorization"] == "ok"
    assert last["headers"]["x-custom-trace"] == "abc"
    assert last["body"]["messages"][0]["content"] == "remember me"
    assert ANTHROPIC_KEY not in json.dumps(last)

    with pytest.raises(openai.AuthenticationError):
        oai(sim, key="sk-someone-else").chat.completions.create(model="gpt-4o", messages=CHAT)
    last = sim.get("/_sim/last").json()
    assert last["headers"]["authorization"] == "bad" and "sk-someone-else" not in json.dumps(last)


def test_stats_count_provider_requests_only(sim):
    before = sim.get("/_sim/stats").json()["requests"]
    assert sim.get("/healthz").text == "ok"
    oai(sim).chat.completions.create(model="gpt-4o", messages=CHAT)
    ids = [m.id for m in oai(sim).models.list()]
    assert "gpt-4o-mini" in ids
    after = sim.get("/_sim/stats").json()["requests"]
    assert after["/v1/chat/completions"] == before.get("/v1/chat/completions", 0) + 1
    assert after["/v1/models"] == before.get("/v1/models", 0) + 1
    assert set(after) <= {"/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/models"}


# --- Process behaviour -------------------------------------------------------------


def test_error_rate_is_deterministic_and_sigterm_exits_cleanly():
    s = Simulator("--error-rate", "0.5")
    try:
        client = oai(s)
        outcomes = []
        for _ in range(6):
            try:
                client.chat.completions.create(model="gpt-4o", messages=CHAT)
                outcomes.append("ok")
            except openai.InternalServerError:
                outcomes.append("500")
        assert outcomes == ["ok", "500"] * 3
    finally:
        assert s.stop() == 0
