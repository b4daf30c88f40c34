"""Reconciliation with the providers' own reports, end to end: official SDK traffic through
Envoy + Tollgate, then fixture reports in the providers' documented JSON shapes (OpenAI
organization Costs and Usage API pages, Anthropic Admin API cost and usage report pages)
imported with `tollgate-ledger reconcile import`, and `GET /v1/reconciliation`.

The fixtures' numbers are the providers' published list prices times the tokens the
simulator reported to the SDKs, computed here (not by Tollgate):

* OpenAI gpt-4o per million tokens: $2.50 input, $1.25 cached input, $10 output.
* Anthropic Claude 3.5 Haiku: $0.80 input, $0.08 cache read, $1 5-minute cache write,
  $4 output.

OpenAI amounts are dollars as JSON numbers; Anthropic amounts are cents as decimal strings.
"""

import csv
import io
import json
import subprocess
import time

import anthropic
import openai
import pytest
import requests
import yaml

import stack as harness
from conftest import CONFIG, KEYS

OPENAI_MODEL = "gpt-4o-2024-08-06"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
DAY_S = 86_400

# Micro-dollars per million tokens (= picodollars per token).
GPT4O = {"input": 2_500_000, "cached_input": 1_250_000, "output": 10_000_000}
HAIKU = {"input": 800_000, "cached_input": 80_000, "cache_write": 1_000_000, "output": 4_000_000}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("reconcile")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["providers"]["targets"] = [
        {"id": "openai-4o", "provider": "openai", "model": OPENAI_MODEL,
         "secret_key_ref": {"env": "OPENAI_API_KEY"}},
        {"id": "anthropic-haiku", "provider": "anthropic", "model": ANTHROPIC_MODEL,
         "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}},
    ]
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def traffic(stack):
    """Requests through Envoy with the official SDKs; the tokens each provider reported,
    by kind, and the UTC day they ran on."""
    oai = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    ant = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)
    day = int(time.time()) // DAY_S * DAY_S
    ids = []
    o = {"input": 0, "cached_input": 0, "output": 0, "requests": 0}
    raw = oai.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "Reconcile this month's invoice."}],
        extra_headers={"x-sim-cached-tokens": "3"})
    u = raw.parse().usage
    o["input"] += u.prompt_tokens - 3
    o["cached_input"] += 3
    o["output"] += u.completion_tokens
    o["requests"] += 1
    ids.append(raw.headers["x-tollgate-request-id"])
    raw = oai.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "And stream the variance."}],
        stream=True, stream_options={"include_usage": True})
    u = [c.usage for c in raw.parse() if c.usage][-1]
    o["input"] += u.prompt_tokens
    o["output"] += u.completion_tokens
    o["requests"] += 1
    ids.append(raw.headers["x-tollgate-request-id"])

    a = {"input": 0, "cached_input": 0, "cache_write": 0, "output": 0}
    raw = ant.messages.with_raw_response.create(
        model=ANTHROPIC_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Match the cost report."}],
        extra_headers={"x-sim-cache-write-tokens": "20", "x-sim-cached-tokens": "7"})
    u = raw.parse().usage
    a["input"] += u.input_tokens
    a["cached_input"] += u.cache_read_input_tokens or 0
    a["cache_write"] += u.cache_creation_input_tokens or 0
    a["output"] += u.output_tokens
    ids.append(raw.headers["x-tollgate-request-id"])
    with ant.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64,
                             messages=[{"role": "user", "content": "Stream it too."}]) as s:
        final = s.get_final_message()
    a["input"] += final.usage.input_tokens
    a["output"] += final.usage.output_tokens
    events = [stack.wait_for_event(i) for i in ids]
    while len(stack.events(model="claude-3-5-haiku-20241022")) < 2:
        time.sleep(0.1)
    assert all(e["ts_ms"] // 1000 // DAY_S * DAY_S == day for e in events), "the day turned mid-test"
    return {"day": day, "openai": o, "anthropic": a}


def picos(rates: dict, kind: str, n: int) -> int:
    return n * rates[kind]


def decimal_text(value: int, scale: int) -> str:
    """`value / 10^scale` as exact decimal text."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    return f"{sign}{v // 10 ** scale}.{v % 10 ** scale:0{scale}d}"


def openai_costs_page(day: int, tokens: dict) -> str:
    """A Costs API page grouped by line_item; amounts in dollars as JSON numbers (exact
    text: 1 picodollar = 1e-12 dollars)."""
    lines = [("input", "input"), ("cached input", "cached_input"), ("output", "output")]
    results = []
    for item, kind in lines:
        value = decimal_text(picos(GPT4O, kind, tokens[kind]), 12)
        results.append(
            '{"object": "organization.costs.result", "amount": {"value": %s, "currency": "usd"}, '
            '"line_item": "%s, %s", "project_id": "proj_finance"}' % (value, OPENAI_MODEL, item))
    return ('{"object": "page", "data": [{"object": "bucket", "start_time": %d, "end_time": %d, "results": [%s]}], '
            '"has_more": false, "next_page": null}' % (day, day + DAY_S, ", ".join(results)))


def openai_usage_page(day: int, tokens: dict) -> str:
    return json.dumps({"object": "page", "has_more": False, "next_page": None, "data": [{
        "object": "bucket", "start_time": day, "end_time": day + DAY_S, "results": [{
            "object": "organization.usage.completions.result",
            "input_tokens": tokens["input"] + tokens["cached_input"],
            "input_cached_tokens": tokens["cached_input"], "output_tokens": tokens["output"],
            "input_audio_tokens": 0, "output_audio_tokens": 0,
            "num_model_requests": tokens["requests"], "project_id": None, "user_id": None,
            "api_key_id": None, "model": OPENAI_MODEL, "batch": None}]}]})


def iso(day: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day))


ANTHROPIC_LINES = [("Input Tokens", "uncached_input_tokens", "input"),
                   ("Cache Read", "cache_read_input_tokens", "cached_input"),
                   ("Cache Write", "cache_creation.ephemeral_5m_input_tokens", "cache_write"),
                   ("Output Tokens", "output_tokens", "output")]


def anthropic_cost_page(day: int, tokens: dict, extra_cents_on_output: int = 0) -> str:
    """A cost report page grouped by description; amounts in cents as decimal strings
    (1 picodollar = 1e-10 cents)."""
    results = []
    for desc, token_type, kind in ANTHROPIC_LINES:
        cents = picos(HAIKU, kind, tokens[kind])
        if kind == "output":
            cents += extra_cents_on_output * 10 ** 10
        results.append({
            "amount": decimal_text(cents, 10), "currency": "USD",
            "description": f"Claude Haiku 3.5 Usage - {desc}", "cost_type": "tokens",
            "context_window": "0-200k", "model": ANTHROPIC_MODEL, "service_tier": "standard",
            "token_type": token_type, "workspace_id": None})
    return json.dumps({"data": [{"starting_at": iso(day), "ending_at": iso(day + DAY_S), "results": results}],
                       "has_more": False, "next_page": None})


def anthropic_usage_page(day: int, tokens: dict) -> str:
    return json.dumps({"data": [{"starting_at": iso(day), "ending_at": iso(day + DAY_S), "results": [{
        "uncached_input_tokens": tokens["input"], "cache_read_input_tokens": tokens["cached_input"],
        "cache_creation": {"ephemeral_5m_input_tokens": tokens["cache_write"], "ephemeral_1h_input_tokens": 0},
        "output_tokens": tokens["output"], "server_tool_use": {"web_search_requests": 0},
        "api_key_id": None, "workspace_id": None, "model": ANTHROPIC_MODEL,
        "service_tier": "standard", "context_window": "0-200k"}]}], "has_more": False, "next_page": None})


def ledger(stack, *args: str) -> str:
    argv = [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "reconcile", *args,
            "--data-dir", str(stack.data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=harness.ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def import_file(stack, tmp_path, provider: str, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return ledger(stack, "import", "--provider", provider, "--file", str(path))


def expected_nanos(rates: dict, tokens: dict) -> int:
    """The provider's report total: each line's exact amount, rounded to nanodollars."""
    return sum((picos(rates, k, tokens[k]) + 500) // 1000 for k in rates)


def rows(stack, day: int, **tolerance) -> dict:
    d = time.strftime("%Y-%m-%d", time.gmtime(day))
    e = time.strftime("%Y-%m-%d", time.gmtime(day + DAY_S))
    body = stack.ledger_get("/v1/reconciliation", **{"from": d, "to": e}, **tolerance)
    return {(r["provider"], r["model"]): r for r in body["rows"]}


def test_reports_priced_like_the_traffic_match_per_day_and_model(stack, traffic, tmp_path):
    day, o, a = traffic["day"], traffic["openai"], traffic["anthropic"]
    out = import_file(stack, tmp_path, "openai", "costs.json", openai_costs_page(day, o))
    assert "3 lines" in out and "3 new" in out, out
    import_file(stack, tmp_path, "openai", "usage.json", openai_usage_page(day, o))
    import_file(stack, tmp_path, "anthropic", "cost_report.json", anthropic_cost_page(day, a))
    import_file(stack, tmp_path, "anthropic", "usage_report.json", anthropic_usage_page(day, a))

    got = rows(stack, day)
    for provider, model, rates, tokens in [("openai", "gpt-4o", GPT4O, o),
                                           ("anthropic", "claude-3-5-haiku", HAIKU, a)]:
        r = got[(provider, model)]
        assert r["provider_cost_nanos"] == expected_nanos(rates, tokens) > 0, r
        # Tollgate rounds each request once; the provider each line: a nanodollar apart at most per request.
        assert abs(r["variance_nanos"]) <= 2, r
        assert r["verdict"] == "match", r
        assert r["usage_verdict"] == "match", r
        assert r["tollgate_models"] == [OPENAI_MODEL if provider == "openai" else ANTHROPIC_MODEL]
        assert got[(provider, "*")]["verdict"] == "match"

    # Importing the same report again replaces its lines: still one report's worth.
    out = import_file(stack, tmp_path, "openai", "costs.json", openai_costs_page(day, o))
    assert "0 new, 3 replaced" in out, out
    assert rows(stack, day)[("openai", "gpt-4o")]["provider_cost_nanos"] == expected_nanos(GPT4O, o)


def test_a_deliberate_variance_is_reported_in_dollars_percent_and_verdict(stack, traffic, tmp_path):
    day, a = traffic["day"], traffic["anthropic"]
    # The provider's report charges $1.00 more for output than its prices make.
    import_file(stack, tmp_path, "anthropic", "cost_report.json",
                anthropic_cost_page(day, a, extra_cents_on_output=100))
    r = rows(stack, day)[("anthropic", "claude-3-5-haiku")]
    provider = expected_nanos(HAIKU, a) + 1_000_000_000
    assert r["provider_cost_nanos"] == provider
    assert r["variance_nanos"] == r["tollgate_cost_nanos"] - provider
    assert -1_000_000_002 <= r["variance_nanos"] <= -999_999_998
    assert r["variance_usd"].startswith("-0.99") or r["variance_usd"].startswith("-1.00")
    assert float(r["variance_pct"]) < -90
    assert r["verdict"] == "under"
    # OpenAI is untouched; the CSV from the command line says the same.
    d = time.strftime("%Y-%m-%d", time.gmtime(day))
    e = time.strftime("%Y-%m-%d", time.gmtime(day + DAY_S))
    text = ledger(stack, "report", "--from", d, "--to", e, "--format", "csv")
    by_key = {(row["provider"], row["model"]): row for row in csv.DictReader(io.StringIO(text))}
    assert by_key[("anthropic", "claude-3-5-haiku")]["verdict"] == "under"
    assert by_key[("anthropic", "claude-3-5-haiku")]["variance_nanos"] == str(r["variance_nanos"])
    assert by_key[("openai", "gpt-4o")]["verdict"] == "match"
    # Only admin and finance tokens see it.
    team = stack.token("team", team="team_support")
    resp = requests.get(f"http://{stack.ledger}/v1/reconciliation", headers=harness.bearer(team), timeout=10)
    assert resp.status_code == 403 and resp.json()["error"]["type"] == "permission_error"


def reprice(stack, day: int, *extra: str) -> str:
    d = time.strftime("%Y-%m-%d", time.gmtime(day))
    e = time.strftime("%Y-%m-%d", time.gmtime(day + DAY_S))
    argv = [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "reprice", "--from", d, "--to", e,
            "--data-dir", str(stack.data_dir), *extra]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=harness.ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def spend_total(stack, day: int) -> int:
    d = time.strftime("%Y-%m-%d", time.gmtime(day))
    e = time.strftime("%Y-%m-%d", time.gmtime(day + DAY_S))
    body = stack.ledger_get("/v1/spend", **{"from": d, "to": e, "group_by": "team"})
    return sum(r["cost_nanos"] for r in body["rows"])


def test_repricing_writes_adjustments_once_and_every_total_follows(stack, traffic, tmp_path):
    day, o = traffic["day"], traffic["openai"]
    # A wrong price: gpt-4o output at $20 per million instead of $10.
    doc = yaml.safe_load(stack.config.read_text())
    doc["pricing"] = {"gpt-4o": {"input": "2.50", "cached_input": "1.25", "output": "20"}}
    wrong = tmp_path / "wrong-prices.yaml"
    wrong.write_text(yaml.safe_dump(doc))
    before = spend_total(stack, day)
    dry = reprice(stack, day, "--config", str(wrong), "--dry-run")
    assert "would change 2 events" in dry, dry
    assert spend_total(stack, day) == before, "a dry run writes nothing"

    out = reprice(stack, day, "--config", str(wrong))
    delta = o["output"] * 10_000_000 // 1000  # every output token 10 µ$ more, in nanodollars
    assert f"by {delta} nanodollars" in out or f"({delta} nanodollars)" in out, out
    assert spend_total(stack, day) == before + delta
    # A few requests' worth is under the default half-cent tolerance: compare strictly
    # (a few nanodollars of per-request rounding).
    strict = {"tolerance_nanos": 10, "tolerance_bp": 0}
    over = rows(stack, day, **strict)[("openai", "gpt-4o")]
    assert over["verdict"] == "over" and over["variance_nanos"] >= delta - 10, over
    # The same prices again: nothing more.
    again = reprice(stack, day, "--config", str(wrong))
    assert "changes 0 events" in again, again
    assert spend_total(stack, day) == before + delta

    # The request-grain export lists the adjustments and still sums to the spend.
    d = time.strftime("%Y-%m-%d", time.gmtime(day))
    e = time.strftime("%Y-%m-%d", time.gmtime(day + DAY_S))
    resp = requests.get(f"http://{stack.ledger}/v1/export", headers=stack.admin_headers, timeout=10,
                        params={"from": d, "to": e, "grain": "request", "format": "csv"})
    resp.raise_for_status()
    exported = list(csv.DictReader(io.StringIO(resp.text)))
    assert sum(int(r["cost_nanos"]) for r in exported) == before + delta
    assert len([r for r in exported if r["reason"] == "repricing"]) == 2

    # The wallet and the audit log say so.
    audit = stack.ledger_get("/v1/audit", limit=10)["entries"]
    assert any(a["action"] == "reprice" and a["after"]["delta_nanos"] == delta for a in audit), audit

    # Back to the list prices: opposite adjustments, and the provider's report matches again.
    reprice(stack, day)
    assert spend_total(stack, day) == before
    assert rows(stack, day, **strict)[("openai", "gpt-4o")]["verdict"] == "match"
