"""The price catalogue as data, end to end: an operator's catalogue file named by
`price_catalogue:` replaces the built-in one (read by the ledger, handed to the filter
by render-envoy), each request is priced with the entry in force on its day, the
config's `pricing:` still wins, and `check-config` names the catalogue and every lane
no price covers.

Expected costs are computed here from the prices written in this file.
"""

import datetime
import subprocess

import anthropic
import openai
import pytest
import yaml

import stack as harness
from conftest import CONFIG, KEYS

LEDGER = str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger"))

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
PAST = (TODAY - datetime.timedelta(days=400)).isoformat()
YESTERDAY = (TODAY - datetime.timedelta(days=1)).isoformat()
FUTURE = (TODAY + datetime.timedelta(days=2)).isoformat()

CATALOGUE = {
    "version": "ops-2",
    "models": {
        # Three prices: an old one, the one in force, a change announced for later.
        "house-gpt": [
            {"effective_from": PAST, "input": "9", "output": "9"},
            {"effective_from": FUTURE, "input": "100", "output": "100"},
            {"effective_from": YESTERDAY, "input": "1.25", "cached_input": "0.125", "output": "10"},
        ],
        "house-claude": [
            {"effective_from": PAST, "input": "3", "cached_input": "0.30", "cache_write": "3.75",
             "cache_write_1h": "6", "output": "15", "web_search_per_1k": "10"},
        ],
        "house-override": [{"effective_from": PAST, "input": "50", "output": "50"}],
    },
}
# Micro-dollars per million tokens of the prices in force today.
HOUSE_GPT = {"input": 1_250_000, "cached_input": 125_000, "output": 10_000_000}
HOUSE_CLAUDE = {"input": 3_000_000, "output": 15_000_000}
OVERRIDE = {"input": 2_000_000, "output": 4_000_000}


def nanos(rates: dict, tokens: dict) -> int:
    return (sum(n * rates[k] for k, n in tokens.items()) + 500) // 1000


def write_config(work, extra_targets=()):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["providers"]["routing"] = {"strategy": "priority",
                                   "aliases": {"override": ["override"]}}
    doc["providers"]["targets"] = [
        {"id": "gpt", "provider": "openai", "model": "house-gpt",
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "claude", "provider": "anthropic", "model": "house-claude",
         "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}},
        {"id": "override", "provider": "openai", "model": "house-override",
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        *extra_targets,
    ]
    doc["pricing"] = {"house-override": {"input": "2", "output": "4"}}
    doc["price_catalogue"] = "prices/ops.yaml"
    (work / "prices").mkdir(exist_ok=True)
    (work / "prices" / "ops.yaml").write_text(yaml.safe_dump(CATALOGUE))
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("catalogue")
    s = harness.start_stack(write_config(work), work)
    yield s
    s.stop()


def test_requests_are_priced_with_the_catalogue_entry_in_force_today(stack):
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="house-gpt", messages=[{"role": "user", "content": "Price me by today's entry."}],
        extra_headers={"x-sim-cached-tokens": "3"})
    u = raw.parse().usage
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    tokens = {"input": u.prompt_tokens - 3, "cached_input": 3, "output": u.completion_tokens}
    assert event["priced_by"] == f"house-gpt:{YESTERDAY}"
    assert event["cost_nanos"] == nanos(HOUSE_GPT, tokens) > 0

    # A stream, the same rule.
    raw = client.chat.completions.with_raw_response.create(
        model="house-gpt", messages=[{"role": "user", "content": "Stream it."}], stream=True,
        stream_options={"include_usage": True})
    u = [c.usage for c in raw.parse() if c.usage][-1]
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["priced_by"] == f"house-gpt:{YESTERDAY}"
    assert event["cost_nanos"] == nanos(HOUSE_GPT, {"input": u.prompt_tokens, "output": u.completion_tokens})


def test_anthropic_lanes_use_the_operators_catalogue_too(stack):
    client = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="house-claude", max_tokens=50, messages=[{"role": "user", "content": "Hello there."}])
    u = raw.parse().usage
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["priced_by"] == f"house-claude:{PAST}"
    assert event["cost_nanos"] == nanos(HOUSE_CLAUDE, {"input": u.input_tokens, "output": u.output_tokens})


def test_the_configs_pricing_overrides_the_catalogue(stack):
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="override", messages=[{"role": "user", "content": "Which price?"}])
    u = raw.parse().usage
    event = stack.wait_for_event(raw.headers["x-tollgate-request-id"])
    assert event["priced_by"] == "house-override:config"
    assert event["cost_nanos"] == nanos(OVERRIDE, {"input": u.prompt_tokens, "output": u.completion_tokens})


def test_check_config_names_the_catalogue_and_the_lanes_no_price_covers(tmp_path):
    config = write_config(tmp_path, extra_targets=[
        {"id": "mystery", "provider": "openai", "model": "mystery-model",
         "secret_key_ref": {"env": "OPENAI_API_KEY"}}])
    r = subprocess.run([LEDGER, "check-config", str(config)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "prices: catalogue prices/ops.yaml (version ops-2), 1 model(s) priced by `pricing:`" in r.stdout
    warnings = [line for line in r.stderr.splitlines() if "no price covers" in line]
    assert len(warnings) == 1, r.stderr
    assert "at `providers.targets[3].model`" in warnings[0]
    assert "'mystery-model' of lane 'mystery'" in warnings[0] and "groups support" in warnings[0]

    # Without the operator's catalogue the house models are not priced either.
    doc = yaml.safe_load(config.read_text())
    del doc["price_catalogue"]
    config.write_text(yaml.safe_dump(doc))
    r = subprocess.run([LEDGER, "check-config", str(config)], capture_output=True, text=True)
    assert "prices: built-in catalogue (version " in r.stdout
    unpriced = sorted(line.split("'")[1] for line in r.stderr.splitlines() if "no price covers" in line)
    assert unpriced == ["house-claude", "house-gpt", "mystery-model"]

    # A catalogue that cannot be used stops the config from loading.
    doc["price_catalogue"] = "prices/ops.yaml"
    config.write_text(yaml.safe_dump(doc))
    broken = dict(CATALOGUE, models={"house-gpt": [{"effective_from": "yesterday", "input": "1", "output": "1"}]})
    (tmp_path / "prices" / "ops.yaml").write_text(yaml.safe_dump(broken))
    r = subprocess.run([LEDGER, "check-config", str(config)], capture_output=True, text=True)
    assert r.returncode == 1 and "price_catalogue (" in r.stderr and "YYYY-MM-DD" in r.stderr
