"""Prometheus metrics and logs on the real Envoy and ledger.

* Envoy's `/stats/prometheus` shows the filter's counters with real labels (team,
  provider, lane, cache result, outcome, refusal reason), extracted by the stats tags
  that `render-envoy` writes, with the right counts.
* The ledger's `/metrics` shows ingest, lease and alert-delivery metrics.
* `--log-format json` gives one JSON object per line, and no secret (provider key, team
  key, webhook URL path) appears in the ledger's or Envoy's logs.
"""

import json
import os
import socket
import time

import anthropic
import openai
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

import stack as harness
from stack import wait_until
from conftest import CONFIG, KEYS

WEBHOOK_SECRET = "T0SECRET/B0SECRET/xoxb-webhook-path-secret"


def closed_port() -> int:
    """A loopback port nothing listens on (webhook deliveries to it fail)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def metrics_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("metrics")
    doc = yaml.safe_load(CONFIG.read_text())
    # A budget crossed by the first request, so alerts fire and their (failing)
    # deliveries are logged: the webhook's secret path must never show.
    doc["budgets"] = [{"team_id": "team_support", "amount_usd": "0.000001", "period": "monthly"}]
    doc["alerts"] = {"webhooks": [
        {"url": f"http://127.0.0.1:{closed_port()}/services/{WEBHOOK_SECRET}", "format": "slack"},
    ]}
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    # Debug logging, as an operator chasing a problem would run it: still no secret.
    saved = os.environ.get("RUST_LOG")
    os.environ["RUST_LOG"] = "debug"
    try:
        s = harness.start_stack(config, work, ledger_extra=["--log-format", "json", "--budget-check-ms", "200"])
    finally:
        if saved is None:
            os.environ.pop("RUST_LOG", None)
        else:
            os.environ["RUST_LOG"] = saved
    yield s
    s.stop()


def oai(stack, key):
    return openai.OpenAI(base_url=stack.openai_base_url, api_key=key, max_retries=0)


def samples(text: str, name: str) -> list:
    """Samples called `name` (the parser adds `_total` to counters that lack it, as
    Envoy's do)."""
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.name in (name, f"{name}_total")]


def value(found: list, **labels) -> float:
    """Sum of the samples whose labels include `labels`."""
    return sum(s.value for s in found if all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def traffic(metrics_stack):
    """A known mix of requests; returns the request ids that produced events."""
    s = metrics_stack
    ids = []
    support = oai(s, KEYS["support"])
    for text in ("first question", "second question", "first question"):  # miss, miss, hit
        raw = support.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
        ids.append(raw.headers["x-tollgate-request-id"])
    ant = anthropic.Anthropic(base_url=s.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)
    raw = ant.messages.with_raw_response.create(
        model="claude-haiku", max_tokens=32, messages=[{"role": "user", "content": "hello"}])
    ids.append(raw.headers["x-tollgate-request-id"])
    with pytest.raises(openai.AuthenticationError):
        oai(s, "kt_not_a_team_key").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.NotFoundError):
        support.images.generate(model="dall-e-3", prompt="x")
    for request_id in ids:
        s.wait_for_event(request_id)
    return ids


def envoy_prometheus(stack) -> str:
    r = requests.get(f"http://{stack.envoy_admin}/stats/prometheus", timeout=10)
    r.raise_for_status()
    return r.text


def test_filter_counters_carry_team_lane_provider_cache_and_outcome(metrics_stack, traffic):
    def refused_counted(reqs):
        return value(reqs, team="team_support", outcome="bad_request") + value(
            reqs, team="team_support", outcome="refused") == 1

    # Counters reach Envoy's stats on the filter's tick, after the answer: the refused
    # request (it makes no event to wait for) is counted within a few ticks.
    harness.wait_until(
        lambda: refused_counted(samples(envoy_prometheus(metrics_stack), "tollgate_requests")),
        timeout=10)
    text = envoy_prometheus(metrics_stack)
    reqs = samples(text, "tollgate_requests")
    assert reqs, "no tollgate_requests series in /stats/prometheus"
    # Every series has all five labels; none is left in the metric name.
    for s in reqs:
        assert set(s.labels) >= {"team", "provider", "lane", "cache", "outcome"}, s
    openai_lane = dict(team="team_support", provider="openai", lane="openai-gpt4o-mini", outcome="ok")
    assert value(reqs, cache="miss", **openai_lane) == 2
    assert value(reqs, cache="hit", **openai_lane) == 1
    assert value(reqs, team="team_engineering", provider="anthropic", lane="anthropic-haiku",
                 cache="miss", outcome="ok") == 1
    # One refused request of an attributed team (wrong endpoint) is a request with an outcome.
    assert refused_counted(reqs)


def test_refusals_carry_the_reason(metrics_stack, traffic):
    refusals = samples(envoy_prometheus(metrics_stack), "tollgate_refusals")
    assert value(refusals, team="unknown", reason="invalid_api_key") == 1
    assert value(refusals, team="team_support", reason="unsupported_endpoint") == 1


def test_filter_vm_memory_is_reported_per_vm(metrics_stack, traffic):
    """Each VM (two workers, the main thread's, the flusher's) adds its wasm linear
    memory to one gauge and counts itself in another, so memory per VM can be read."""
    def gauges():
        text = envoy_prometheus(metrics_stack)
        return (value(samples(text, "tollgate_vm_memory_bytes")), value(samples(text, "tollgate_vms")))
    # 2 workers + the main thread's HTTP root + the flusher, each counted on its first tick.
    assert wait_until(lambda: gauges()[1] == 4), gauges()
    memory, vms = gauges()
    # A VM holds at least the module's data and stack (1 MiB of stack for Rust on wasm32).
    assert memory / vms >= 1 << 20, memory
    assert memory % 65536 == 0, "whole wasm pages"


def test_tokens_and_cost_by_team_and_lane(metrics_stack, traffic):
    s = metrics_stack
    text = envoy_prometheus(s)
    events = {e["id"]: e for e in s.events()}
    support = [events[i] for i in traffic[:3]]
    tokens = samples(text, "tollgate_tokens")
    want_input = sum(e["tokens"]["input"] for e in support)
    assert value(tokens, team="team_support", lane="openai-gpt4o-mini", kind="input") == want_input
    cost = samples(text, "tollgate_cost_nanodollars")
    assert value(cost, team="team_support") == sum(e["cost_nanos"] for e in support)
    avoided = samples(text, "tollgate_cost_avoided_nanodollars")
    assert value(avoided, team="team_support") == sum(e["cost_avoided_nanos"] for e in support) > 0


def test_ledger_metrics_show_ingest_leases_and_alerts(metrics_stack, traffic):
    s = metrics_stack
    url = f"http://{s.ledger}/metrics"
    # A duplicate and a malformed event, sent straight to the ledger.
    event = s.events()[0]
    r = requests.post(f"http://{s.ledger}/v1/events", json=[event, {"id": "broken"}],
                      headers=harness.ingest_headers(), timeout=10)
    assert r.json()["duplicates"] == 1 and len(r.json()["rejected"]) == 1
    # A forged batch without the data plane's token: refused, counted, nothing stored.
    forged = dict(event, id="forged-1", cost_nanos=400_000_000_000)
    r = requests.post(f"http://{s.ledger}/v1/events", json=[forged], timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"

    r = requests.get(url, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    stored = len(s.events())
    ingest = samples(text, "tollgate_ledger_ingest_events_total")
    assert value(ingest, result="accepted") == stored
    assert value(ingest, result="duplicate") >= 1
    assert value(ingest, result="rejected") == 1
    assert value(samples(text, "tollgate_ledger_ingest_batches_total"), status="ok") >= 2
    assert value(samples(text, "tollgate_ledger_ingest_batch_duration_seconds_count")) >= 2
    assert value(samples(text, "tollgate_ledger_last_ingest_timestamp_seconds")) > time.time() - 120
    leases = samples(text, "tollgate_ledger_lease_requests_total")
    assert value(leases, result="granted") >= 2  # two teams, one lease each at least
    refused = samples(text, "tollgate_ledger_auth_refusals_total")
    assert value(refused, access="data_plane", reason="missing") >= 1
    assert "forged-1" not in {e["id"] for e in s.events()}
    assert value(samples(text, "tollgate_ledger_lease_granted_nanodollars_total")) > 0
    spent = samples(text, "tollgate_ledger_wallet_spent_nanodollars")
    assert value(spent, team="team_support") == sum(
        e["cost_nanos"] for e in s.events() if e["team"] == "team_support")
    # The budget was crossed: alerts fired and their deliveries (to a closed port) show by status.
    assert wait_until(lambda: value(samples(requests.get(url, timeout=10).text, "tollgate_ledger_alerts")) > 0)
    deliveries = samples(requests.get(url, timeout=10).text, "tollgate_ledger_alert_deliveries")
    assert {d.labels["status"] for d in deliveries} >= {"pending", "delivered", "failed"}
    assert value(deliveries) >= 1


def test_ledger_logs_are_json_lines(metrics_stack, traffic):
    log = metrics_stack.procs["ledger"].log_path.read_text()
    lines = [line for line in log.splitlines() if line.strip()]
    json_lines = [json.loads(line) for line in lines if line.startswith("{")]
    assert json_lines and all("level" in j and "fields" in j for j in json_lines)
    # The only non-JSON line is the listening line on stdout, which scripts wait for.
    others = [line for line in lines if not line.startswith("{")]
    assert all(line.startswith("tollgate-ledger listening on") for line in others), others


def test_no_secret_in_any_log(metrics_stack, traffic):
    s = metrics_stack
    # Make sure a delivery was attempted (and failed) so its error was logged.
    assert wait_until(lambda: any(
        d["attempts"] > 0 for a in s.ledger_get("/v1/alerts")["alerts"] for d in a["deliveries"]))
    secrets = [harness.SIM_OPENAI_KEY, harness.SIM_ANTHROPIC_KEY, *KEYS.values(), "kt_not_a_team_key",
               WEBHOOK_SECRET, "T0SECRET", "xoxb-webhook"]
    for name in ("ledger", "envoy"):
        log = s.procs[name].log_path.read_text(errors="replace")
        assert log, f"{name} wrote no log"
        for secret in secrets:
            assert secret not in log, f"{secret!r} appears in the {name} log"


def exposed_names(text: str) -> set:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_grafana_dashboard_uses_only_metrics_that_exist(metrics_stack, traffic):
    import re

    s = metrics_stack
    dashboard = json.loads((harness.ROOT / "examples/grafana/tollgate-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    used = {m for e in exprs for m in re.findall(r"\b(tollgate_[a-z0-9_]+)", e)}
    have = exposed_names(envoy_prometheus(s)) | exposed_names(requests.get(f"http://{s.ledger}/metrics", timeout=10).text)
    # Created on first use only: a lane failure did not happen in this run.
    lazily_created = {"tollgate_failed_attempts"}
    assert used - have - lazily_created == set()
    assert {"tollgate_requests", "tollgate_ledger_ingest_events_total"} <= used


METRICS_TOKEN = "prom-scrape-token-5f0c2a9e71"


def test_ledger_metrics_can_require_a_token_and_move_to_their_own_port(tmp_path):
    """Open by default (above); with --metrics-token-file a scrape needs the token; with
    --metrics-listen /metrics moves to its own port and leaves the API's."""
    token_file = tmp_path / "metrics-token"
    token_file.write_text(METRICS_TOKEN + "\n")
    port = closed_port()
    procs = []
    try:
        proc, api = harness.start_ledger(tmp_path, tmp_path / "data-a",
                                         extra=["--metrics-token-file", str(token_file)])
        procs.append(proc)
        r = requests.get(f"http://{api}/metrics", timeout=10)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = requests.get(f"http://{api}/metrics", headers={"authorization": "Bearer not-the-token"}, timeout=10)
        assert r.status_code == 401
        r = requests.get(f"http://{api}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
        assert r.status_code == 200 and "tollgate_ledger_ingest_batch_duration_seconds" in r.text
        assert requests.get(f"http://{api}/healthz", timeout=10).status_code == 200

        proc, api = harness.start_ledger(tmp_path, tmp_path / "data-b", extra=[
            "--metrics-token-file", str(token_file), "--metrics-listen", f"127.0.0.1:{port}"])
        procs.append(proc)
        assert requests.get(f"http://{api}/metrics", timeout=10).status_code == 404
        assert requests.get(f"http://{api}/metrics", timeout=10,
                            headers={"authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 404
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 401
        r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10,
                         headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200 and "tollgate_ledger_alerts " in r.text
        assert requests.get(f"http://127.0.0.1:{port}/v1/wallets", timeout=10).status_code == 404
        assert requests.get(f"http://{api}/healthz", timeout=10).status_code == 200

        # A token too short to be one is refused at start.
        token_file.write_text("short\n")
        with pytest.raises(RuntimeError, match="at least 16"):
            harness.start_ledger(tmp_path, tmp_path / "data-c", extra=["--metrics-token-file", str(token_file)])
    finally:
        for p in procs:
            p.stop()
    for p in procs:
        assert METRICS_TOKEN not in p.log_path.read_text()
