"""The response cache inside Envoy: exact match, per team, streaming replay, bypass,
bounded under many distinct requests."""

import json
import uuid

import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS


def unique(text: str) -> str:
    return f"{text} [{uuid.uuid4().hex[:8]}]"


def sim_requests(stack) -> int:
    return sum(stack.sim_get("/_sim/stats")["requests"].values())


def post_chat(stack, body: bytes, key=KEYS["support"], headers=None):
    h = {"authorization": f"Bearer {key}", "content-type": "application/json", **(headers or {})}
    return requests.post(f"http://{stack.envoy}/v1/chat/completions", data=body, headers=h, timeout=10)


def test_identical_request_is_answered_from_the_cache(stack):
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)
    messages = [{"role": "user", "content": unique("What is our refund policy?")}]
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    before = sim_requests(stack)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert sim_requests(stack) == before, "a hit must not reach the provider"
    assert first.headers.get("x-tollgate-cache") is None
    assert second.headers["x-tollgate-cache"] == "hit"
    assert int(second.headers["age"]) >= 0
    assert second.headers["content-type"].startswith("application/json")
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content

    miss = stack.wait_for_event(first.headers["x-tollgate-request-id"])
    hit = stack.wait_for_event(second.headers["x-tollgate-request-id"])
    assert miss["cache"] == "miss" and miss["cost_nanos"] > 0
    assert hit["cache"] == "hit" and hit["cost_nanos"] == 0
    assert hit["cost_avoided_nanos"] == miss["cost_nanos"]
    assert hit["team"] == "team_support" and hit["outcome"] == "ok"


def test_key_order_and_whitespace_do_not_split_the_cache(stack):
    content = unique("canonical")
    a = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], "temperature": 1})
    b = ('{ "temperature": 1.0,\n  "messages": [ { "content": ' + json.dumps(content)
         + ', "role": "user" } ],  "model": "gpt-4o-mini" }')
    assert post_chat(stack, a.encode()).headers.get("x-tollgate-cache") is None
    assert post_chat(stack, b.encode()).headers["x-tollgate-cache"] == "hit"


def test_teams_never_read_each_others_answers(stack):
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": unique("shared?")}]}).encode()
    post_chat(stack, body, key=KEYS["support"])
    r = post_chat(stack, body, key=KEYS["finance"])
    assert r.status_code == 200 and r.headers.get("x-tollgate-cache") is None
    assert post_chat(stack, body, key=KEYS["finance"]).headers["x-tollgate-cache"] == "hit"


def test_client_no_cache_bypasses_and_errors_are_never_cached(stack):
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": unique("fresh")}]}).encode()
    post_chat(stack, body)
    before = sim_requests(stack)
    r = post_chat(stack, body, headers={"cache-control": "no-cache"})
    assert r.status_code == 200 and r.headers.get("x-tollgate-cache") is None
    assert sim_requests(stack) == before + 1
    assert stack.wait_for_event(r.headers["x-tollgate-request-id"])["cache"] == "bypass"

    failing = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": unique("boom")}]}).encode()
    assert post_chat(stack, failing, headers={"x-sim-error": "500"}).status_code == 500
    r = post_chat(stack, failing)
    assert r.status_code == 200 and r.headers.get("x-tollgate-cache") is None


def test_streamed_answer_is_replayed_as_a_valid_stream(stack):
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    messages = [{"role": "user", "content": unique("stream and cache me")}]

    def run():
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        return raw.headers, text

    h1, t1 = run()
    before = sim_requests(stack)
    h2, t2 = run()
    assert sim_requests(stack) == before
    assert h2["x-tollgate-cache"] == "hit" and h2["content-type"].startswith("text/event-stream")
    assert t1 and t2 == t1
    hit = stack.wait_for_event(h2["x-tollgate-request-id"])
    assert hit["cache"] == "hit" and hit["stream"] is True
    assert hit["cost_avoided_nanos"] == stack.wait_for_event(h1["x-tollgate-request-id"])["cost_nanos"] > 0


@pytest.fixture(scope="module")
def small_cache_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("small-cache")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["max_entries"] = 8
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


def test_cache_holds_at_most_max_entries_however_many_distinct_requests(small_cache_stack):
    stack = small_cache_stack
    bodies = [json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"distinct {i}"}]}).encode()
              for i in range(80)]
    for body in bodies:
        assert post_chat(stack, body).status_code == 200
    # Newest first, so replayed misses (which store again) cannot evict what is still
    # to be asked for before it is asked for.
    hits = sum(post_chat(stack, body).headers.get("x-tollgate-cache") == "hit" for body in reversed(bodies))
    # Ten times max_entries went in; at most max_entries can still be there.
    assert 0 < hits <= 8

    def evictions() -> int:
        stats = requests.get(f"http://{stack.envoy_admin}/stats?filter=tollgate.cache", timeout=5).text
        counters = dict(line.split(": ") for line in stats.strip().splitlines())
        return int(counters.get("wasmcustom.tollgate.cache_evictions", "0"))

    # Workers hand their counters to Envoy on their next tick, so the count may lag a little.
    assert harness.wait_until(lambda: evictions() > 0, timeout=10), evictions()
