"""Attacks from a neighbour on the same host against the default stack (`make run`'s:
examples/tollgate.yaml, the ledger with its default settings, the real Envoy): open
reads, forged events, stolen leases, a team token reading other teams. Each must fail
while the real traffic through Envoy keeps being accounted."""

import json
import time

import openai
import pytest
import requests

import stack as harness
from stack import wait_until
from conftest import CONFIG, KEYS

USD = 1_000_000_000
READS = ["/v1/spend", "/v1/wallets", "/v1/wallets/team_support", "/v1/budgets", "/v1/alerts", "/v1/events",
         "/v1/export", "/v1/rejected-events", "/v1/policy", "/v1/audit", "/v1/quarantine"]


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory):
    s = harness.start_stack(CONFIG, tmp_path_factory.mktemp("security"))
    client = openai.OpenAI(base_url=s.openai_base_url, api_key=KEYS["support"], max_retries=0)
    eng = openai.OpenAI(base_url=s.openai_base_url, api_key=KEYS["engineering"], max_retries=0)
    for c in (client, eng, client):
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert wait_until(lambda: len(s.events()) == 3), "the filter's events reach the ledger with its token"
    yield s
    s.stop()


def url(s, path):
    return f"http://{s.ledger}{path}"


def wallet(s, team="team_support"):
    return s.ledger_get(f"/v1/wallets/{team}")


def test_no_read_answers_without_a_token(secure_stack):
    s = secure_stack
    for path in READS:
        r = requests.get(url(s, path), params={"from": "2020-01-01", "to": "2100-01-01"}, timeout=10)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
        assert r.json()["error"]["type"] == "authentication_error"
    # What stays open carries no data.
    assert requests.get(url(s, "/healthz"), timeout=10).json() == {"status": "ok"}


def test_a_forged_event_is_refused_and_charges_nothing(secure_stack):
    s = secure_stack
    before = wallet(s)
    real = s.events()[0]
    forged = dict(real, id="forged-400", team="team_support", workflow="no-such-workflow",
                  cost_nanos=400 * USD, ts_ms=int(time.time() * 1000))
    for headers in ({}, {"authorization": "Bearer tgk_" + "0" * 64}, s.admin_headers):
        r = requests.post(url(s, "/v1/events"), json=[forged], headers=headers, timeout=10)
        assert r.status_code in (401, 403), r.text
        assert "error" in r.json()
    time.sleep(0.5)
    assert "forged-400" not in {e["id"] for e in s.events()}
    after = wallet(s)
    assert after["spent_nanos"] == before["spent_nanos"], "the forged $400 was not charged"


def test_forged_events_with_the_ingest_token_are_quarantined_and_real_ones_pass(secure_stack):
    """The ingest token itself stolen: events the filter could not have sent are kept
    apart, not charged; a copy of a real event (new id) is stored as usual."""
    s = secure_stack
    before = wallet(s)
    real = next(e for e in s.events() if e["team"] == "team_support" and e["cost_nanos"] > 0)
    now = int(time.time() * 1000)
    batch = [
        dict(real, id="stolen-cost", cost_nanos=400 * USD, ts_ms=now),
        dict(real, id="stolen-team", team="team_00", ts_ms=now),
        dict(real, id="stolen-wallet", team="team_engineering", ts_ms=now),
        dict(real, id="stolen-lane", lane="no-such-lane", ts_ms=now),
        dict(real, id="copy-of-real"),
    ]
    r = requests.post(url(s, "/v1/events"), json=batch, headers=harness.ingest_headers(), timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == [], body
    assert [(q["index"], q["reason"]) for q in body["quarantined"]] == [
        (0, "cost_mismatch"), (1, "unknown_team"), (2, "unknown_group"), (3, "unknown_lane")]
    after = wallet(s)
    assert after["spent_nanos"] - before["spent_nanos"] == real["cost_nanos"]
    ids = {e["id"] for e in s.events()}
    assert "copy-of-real" in ids and not ids & {"stolen-cost", "stolen-team", "stolen-wallet", "stolen-lane"}
    listed = s.ledger_get("/v1/quarantine")["quarantined_events"]
    assert {q["event_id"] for q in listed} == {"stolen-cost", "stolen-team", "stolen-wallet", "stolen-lane"}
    assert all(q["holder"] == "--ingest-token-file" for q in listed), listed


def test_a_lease_on_another_teams_wallet_is_refused(secure_stack):
    s = secure_stack
    available = wallet(s)["available_nanos"]
    ask = {"instance": "made-up-instance", "team": "team_support", "want_nanos": available}
    for headers in ({}, s.admin_headers):
        r = requests.post(url(s, "/v1/leases"), json=ask, headers=headers, timeout=10)
        assert r.status_code in (401, 403), r.text
    # Granted, it would have taken all that was available.
    assert wallet(s)["available_nanos"] > 0
    # The team's real traffic is still served.
    client = openai.OpenAI(base_url=s.openai_base_url, api_key=KEYS["support"], max_retries=0)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}])


def test_a_team_token_reads_its_own_team_only(secure_stack):
    s = secure_stack
    support = harness.bearer(s.token("team", team="team_support"))
    window = {"from": "2020-01-01", "to": "2100-01-01"}
    r = requests.get(url(s, "/v1/spend"), params=dict(window, group_by="team"), headers=support, timeout=10)
    assert r.status_code == 200
    assert {row["key"]["team"] for row in r.json()["rows"]} == {"team_support"}
    r = requests.get(url(s, "/v1/export"), params=dict(window, team="team_engineering"), headers=support, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = requests.get(url(s, "/v1/export"), params=dict(window, format="jsonl", grain="request"), headers=support,
                     timeout=10)
    assert r.status_code == 200 and "team_engineering" not in r.text and "team_support" in r.text
    r = requests.get(url(s, "/v1/events"), headers=support, timeout=10)
    assert {e["team"] for e in r.json()["events"]} == {"team_support"}
    assert requests.get(url(s, "/v1/wallets/team_engineering"), headers=support, timeout=10).status_code == 403
    for path in ("/v1/rejected-events", "/v1/policy", "/v1/audit", "/v1/quarantine"):
        assert requests.get(url(s, path), headers=support, timeout=10).status_code == 403, path


def test_no_host_path_and_no_secret_leaks(secure_stack):
    s = secure_stack
    reasons = [e["reason"] for e in wallet(s)["entries"]]
    assert reasons and all("/" not in r for r in reasons), reasons
    assert "initial allocation from tollgate.yaml" in reasons
    dump = requests.get(f"http://{s.envoy_admin}/config_dump", timeout=10).text
    for secret in (harness.INGEST_TOKEN, harness.SIM_OPENAI_KEY, harness.SIM_ANTHROPIC_KEY, *KEYS.values()):
        assert secret not in dump
    assert "TOLLGATE_LEDGER_TOKEN" in dump  # only the variable's name
    rendered = (s.work_dir / "envoy.yaml").read_text()
    assert harness.INGEST_TOKEN not in rendered
    for proc in s.procs.values():
        assert harness.INGEST_TOKEN not in proc.log_path.read_text(errors="replace"), proc.name
        assert s.admin_token not in proc.log_path.read_text(errors="replace"), proc.name


def test_an_envoy_without_the_token_cannot_write(secure_stack, tmp_path):
    """An Envoy started without the ledger token (or a rogue one): its charges are
    refused by the ledger, counted, and none is stored."""
    s = secure_stack
    bootstrap = tmp_path / "rogue.yaml"
    harness.render_envoy(CONFIG, bootstrap, simulator=s.simulator, ledger=s.ledger, listen="127.0.0.1:0",
                         admin="127.0.0.1:0")
    proc, addr, _ = harness.start_envoy(bootstrap, tmp_path, harness.next_base_id(), name="rogue",
                                        ledger_token="tgk_" + "f" * 64)
    try:
        rogue = openai.OpenAI(base_url=f"http://{addr}/v1", api_key=KEYS["finance"], max_retries=0)
        refused_before = refusals(s)
        with pytest.raises(openai.APIStatusError) as refused:
            rogue.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        # Wallet enforcement is on: without credit from the ledger nothing goes upstream.
        assert refused.value.status_code == 503
        assert wait_until(lambda: refusals(s) > refused_before)
    finally:
        proc.stop()


def test_an_expired_token_is_refused_with_token_expired(secure_stack):
    s = secure_stack
    brief = harness.bearer(s.token("admin", expires_in="2s"))
    assert requests.get(url(s, "/v1/wallets"), headers=brief, timeout=10).status_code == 200
    assert wait_until(lambda: requests.get(url(s, "/v1/wallets"), headers=brief, timeout=10).status_code == 401,
                      timeout=10)
    r = requests.get(url(s, "/v1/wallets"), headers=brief, timeout=10)
    assert r.json()["error"]["code"] == "token_expired", r.text


def test_routes_outside_the_access_table_are_admin_only(secure_stack):
    s = secure_stack
    assert requests.get(url(s, "/v1/not-a-route"), timeout=10).status_code == 401
    support = harness.bearer(s.token("team", team="team_support"))
    assert requests.get(url(s, "/v1/not-a-route"), headers=support, timeout=10).status_code == 403
    assert requests.get(url(s, "/v1/not-a-route"), headers=s.admin_headers, timeout=10).status_code == 404
    assert requests.delete(url(s, "/v1/events"), timeout=10).status_code == 401


def test_the_audit_log_exports_config_loads_without_paths(secure_stack):
    s = secure_stack
    r = requests.get(url(s, "/v1/audit"), params={"format": "jsonl"}, headers=s.admin_headers, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    entries = [json.loads(line) for line in r.text.splitlines()]
    loads = [e for e in entries if e["action"] == "config.load"]
    assert loads and len(loads[0]["after"]["sha256"]) == 64, entries
    assert str(CONFIG) not in r.text and "tollgate.yaml" not in r.text
    for key in KEYS.values():
        assert key not in r.text
    assert requests.get(url(s, "/v1/audit"), params={"format": "jsonl"}, timeout=10).status_code == 401


def test_guessing_tokens_is_answered_429_and_the_data_plane_keeps_writing(secure_stack):
    """Runs last in this module: the loopback address stays blocked for a minute."""
    s = secure_stack
    statuses = []
    for i in range(25):
        r = requests.get(url(s, "/v1/wallets"), headers=harness.bearer(f"tgk_{i:064x}"), timeout=10)
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) <= {401}, statuses
    assert r.json()["error"]["type"] == "rate_limit_error" and int(r.headers["retry-after"]) >= 1
    # A token never used before is not even looked at from this address now.
    fresh = harness.bearer(s.token("admin"))
    assert requests.get(url(s, "/v1/wallets"), headers=fresh, timeout=10).status_code == 429
    # Tokens the ledger accepted before still pass: the operator reads, Envoy writes.
    assert requests.get(url(s, "/v1/wallets"), headers=s.admin_headers, timeout=10).status_code == 200
    before = len(s.events())
    client = openai.OpenAI(base_url=s.openai_base_url, api_key=KEYS["support"], max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "still here"}])
    assert wait_until(lambda: len(s.events()) == before + 1)
    text = requests.get(url(s, "/metrics"), timeout=10).text
    assert 'reason="rate_limited"' in text


def refusals(s) -> float:
    text = requests.get(url(s, "/metrics"), timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("tollgate_ledger_auth_refusals_total{") and 'access="data_plane"' in line)
