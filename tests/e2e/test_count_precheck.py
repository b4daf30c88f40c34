"""A nearly empty wallet and Anthropic's free token count, end to end: official
anthropic SDK → Envoy + Tollgate filter → simulator.

A reservation bounds the input by the request body's bytes. When that bound does not
fit the wallet, the filter asks the lane's `/v1/messages/count_tokens` and checks the
wallet again with the counted input plus 2% (at least 16 tokens). The simulator counts
one token per 4 bytes of prompt text, so a ~4 KB prompt reserves ~$0.42 on the byte
bound but ~$0.105 on the count, at the prices below.
"""

from decimal import Decimal

import anthropic
import pytest
import yaml

import stack as harness
from stack import wait_until
from conftest import CONFIG, KEYS

USD = 1_000_000_000
MODEL = "claude-haiku"
# $100 per million tokens, every rate: 100,000 nanodollars a token.
PRICES = {"input": "100", "cached_input": "100", "cache_write": "100", "cache_write_1h": "100", "output": "100"}
NANOS_PER_TOKEN = 100_000
WALLET_USD = Decimal("0.20")
PROMPT = "lorem ipsum " * 340  # 4,080 bytes: 1,020 tokens at the simulator's 4 bytes a token
MAX_TOKENS = 8
COUNT_PATH = "/v1/messages/count_tokens"
MESSAGES_PATH = "/v1/messages"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("count_precheck")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["providers"]["targets"] = [t for t in doc["providers"]["targets"] if t["provider"] == "anthropic"]
    doc["pricing"][MODEL] = PRICES
    doc["cache"]["enabled"] = False
    for w in doc["wallets"]:
        if w["team_id"] == "team_support":
            w["initial_usd"] = str(WALLET_USD)
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


def client(stack, key):
    return anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=key, max_retries=0)


def sim_requests(stack) -> dict:
    return stack.sim_get("/_sim/stats")["requests"]


def calls_since(stack, before: dict, path: str) -> int:
    return sim_requests(stack).get(path, 0) - before.get(path, 0)


def ask(stack, key):
    return client(stack, key).messages.with_raw_response.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PROMPT}]
    )


def test_a_request_the_byte_bound_refuses_is_counted_and_served(stack):
    counted = 1_020 + 21  # the simulator's count plus the 2% margin, rounded up
    assert counted * NANOS_PER_TOKEN + MAX_TOKENS * NANOS_PER_TOKEN < WALLET_USD * USD
    assert len(PROMPT) * NANOS_PER_TOKEN > WALLET_USD * USD, "the byte bound alone refuses"
    before = sim_requests(stack)
    raw = ask(stack, KEYS["support"])
    assert raw.status_code == 200
    message = raw.parse()
    assert message.usage.input_tokens == 1_020
    assert calls_since(stack, before, COUNT_PATH) == 1, "one count call"
    assert calls_since(stack, before, MESSAGES_PATH) == 1
    request_id = raw.headers["x-tollgate-request-id"]
    assert wait_until(lambda: any(e["id"] == request_id for e in stack.events(team="team_support")))
    events = stack.events(team="team_support")
    assert len(events) == 1, "the count is no event of its own"
    cost = (message.usage.input_tokens + message.usage.output_tokens) * NANOS_PER_TOKEN
    assert events[0]["cost_nanos"] == cost


def test_a_wallet_that_cannot_pay_even_the_count_is_refused_without_a_provider_call(stack):
    # What the first request left (~$0.097) is less than the counted bound (~$0.105).
    before = sim_requests(stack)
    with pytest.raises(anthropic.APIStatusError) as e:
        ask(stack, KEYS["support"])
    assert e.value.status_code == 402
    body = e.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "billing_error"
    assert "cannot cover this request" in body["error"]["message"]
    assert calls_since(stack, before, MESSAGES_PATH) == 0, "the messages endpoint was never called"
    assert calls_since(stack, before, COUNT_PATH) == 1


def test_a_request_the_wallet_covers_is_never_counted(stack):
    before = sim_requests(stack)
    raw = ask(stack, KEYS["engineering"])
    assert raw.status_code == 200
    assert calls_since(stack, before, COUNT_PATH) == 0
    assert calls_since(stack, before, MESSAGES_PATH) == 1
