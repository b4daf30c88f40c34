"""Normalised cache matching through the real stack: near-repeats (the same question
with another ticket id and timestamp) miss under exact matching, are counted by the
ledger as what normalised matching would have answered, and become cache hits once a
leader turns normalised matching on for the workflow; the official SDK reads the
cached answer like any other."""

import subprocess
import time
import uuid
from datetime import datetime, timezone

import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS


def cli(*args: str) -> str:
    out = subprocess.run([str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), *args],
                         check=True, capture_output=True, text=True, timeout=120, cwd=harness.ROOT)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def cache_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("normalized")
    doc = yaml.safe_load(CONFIG.read_text())
    assert doc["cache"]["enabled"] and doc["cache"]["match_strategy"] == "exact"
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    data = work / "data"
    finance = cli("tokens", "create", "--role", "finance", "--name", "finance desk", "--data-dir", str(data))
    s = harness.start_stack(config, work, data_dir=data)
    s.finance = finance
    yield s
    s.stop()


def ticket(stack, workflow: str):
    """A near-repeat: the same question, another ticket id and timestamp."""
    c = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)
    text = f"Ticket {uuid.uuid4()} opened {datetime.now(timezone.utc).isoformat()}:  reset my password"
    return c.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}],
        extra_headers={"x-tollgate-workflow": workflow})


def hit(r) -> bool:
    """Answered from the cache (the filter marks only hits)."""
    return r.headers.get("x-tollgate-cache") == "hit"


def test_near_repeats_are_counted_then_answered_from_the_cache_once_turned_on(cache_stack):
    assert not any(hit(ticket(cache_stack, "echo")) for _ in range(3))

    # The ledger counts what normalised matching would have answered.
    def near():
        r = requests.get(f"http://{cache_stack.ledger}/v1/insights/cache", params={"team": "team_support"},
                         headers={"Authorization": f"Bearer {cache_stack.finance}"}, timeout=10)
        rows = [x for x in r.json()["near_repeats"] if x["workflow"] == "echo"]
        return rows[0] if rows and rows[0]["misses"] == 3 else None
    assert harness.wait_until(near, timeout=15)
    row = near()
    assert (row["repeats"], row["normalized_on"]) == (2, False)
    assert row["repeat_cost_nanos"] > 0

    # A leader turns it on for the workflow; Envoy applies it within its poll interval.
    r = requests.post(f"http://{cache_stack.ledger}/v1/teams/team_support/policy",
                      headers={"Authorization": f"Bearer {cache_stack.finance}"}, timeout=10,
                      json={"change": "normalized_cache", "workflows": ["echo"], "reason": "near-repeats"})
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10
    served = None
    while time.monotonic() < deadline and served is None:
        r = ticket(cache_stack, "echo")
        if hit(r):
            served = r
    assert served is not None, "a near-repeat became a hit"
    answer = served.parse()
    assert answer.choices[0].message.content and served.headers["x-tollgate-cost-usd"] == "0.00"
    # Another workflow keeps exact matching.
    assert not hit(ticket(cache_stack, "other"))
    assert not hit(ticket(cache_stack, "other"))
