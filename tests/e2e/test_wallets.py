"""Wallets are hard limits: concurrent clients through two Envoy instances sharing one
ledger cannot spend more than the wallet holds; refusals are clear; top-ups work live;
a dead instance's lease and a ledger crash lose nothing."""

import json
import signal
import subprocess
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import openai
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

import stack as harness
from stack import wait_until
from conftest import CONFIG, KEYS

USD = 1_000_000_000
LEASE_TTL_MS = 3_000
WALLET_USD = Decimal("2.00")
# Expensive prices so a few dollars last dozens of requests, not hundreds of thousands.
PRICES = {"input": "100", "cached_input": "10", "output": "1000"}


@pytest.fixture(scope="module")
def wallet_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("wallets")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["pricing"]["gpt-5.4-mini-mini"] = PRICES
    doc["cache"]["enabled"] = False
    for w in doc["wallets"]:
        if w["team_id"] == "team_support":
            w["initial_usd"] = str(WALLET_USD)
    doc["cost_tracking"]["lease_chunk_usd"] = "0.25"
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work, ledger_extra=["--lease-ttl-ms", str(LEASE_TTL_MS)])
    second, _ = s.add_envoy("envoy-b")
    s.envoys = [s.envoy, second]
    yield s
    s.stop()


def wallet(stack, team="team_support"):
    return stack.ledger_get(f"/v1/wallets/{team}")


def ask(envoy, key=KEYS["support"], content="spend", max_tokens=24):
    return requests.post(
        f"http://{envoy}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]},
        timeout=30,
    )


def test_concurrent_clients_through_two_envoys_cannot_overspend(wallet_stack):
    stack = wallet_stack
    ok, refused, other = [], [], []
    lock = threading.Lock()

    def client(i):
        envoy = stack.envoys[i % 2]
        for n in range(200):
            r = ask(envoy, content=f"client {i} request {n}")
            with lock:
                (ok if r.status_code == 200 else refused if r.status_code == 402 else other).append(r)
            if r.status_code == 402:
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not other, [(r.status_code, r.text) for r in other[:3]]
    assert ok and refused

    # Every answered request is in the ledger exactly once.
    ids = {r.headers["x-tollgate-request-id"] for r in ok}
    assert wait_until(lambda: ids <= {e["id"] for e in stack.events(team="team_support")})
    w = wallet(stack)
    charged = sum(int(Decimal(r.headers["x-tollgate-cost-usd"]) * USD) for r in ok)
    assert w["spent_nanos"] == charged
    allocated = int(WALLET_USD * USD)
    overshoot = w["spent_nanos"] - allocated
    # The stated bound: no overshoot at all while reservations are upper bounds.
    assert overshoot <= 0, f"overspent by {overshoot} nanodollars"
    # And the wallet was really used: what is left is less than one request's
    # reservation per instance (credit still leased to an instance it cannot use).
    # ($/MTok × 1000 = nanodollars per token; bodies here are under 200 bytes.)
    reservation = 24 * int(Decimal(PRICES["output"]) * 1000) + 200 * int(Decimal(PRICES["input"]) * 1000)
    assert allocated - w["spent_nanos"] < 2 * reservation
    print(f"\nwallet {allocated / USD:.2f} USD, {len(ok)} answered, {len(refused)} refused, "
          f"spent {w['spent_nanos'] / USD:.6f} USD, overshoot {overshoot} nanodollars")
    (stack.work_dir.parent / "overshoot.json").write_text(json.dumps(
        {"wallet_nanos": allocated, "spent_nanos": w["spent_nanos"], "overshoot_nanos": overshoot,
         "answered": len(ok), "refused": len(refused), "clients": 16, "envoys": 2}))


def spent_out(stack, envoy) -> bool:
    """Nothing is left to spend anywhere: no credit is leased to an instance (an expiring
    lease hands its unspent credit back to the wallet) and a request is refused."""
    return wallet(stack)["leased_outstanding_nanos"] == 0 and ask(envoy).status_code == 402


def test_refusal_is_a_clear_provider_style_error_and_recorded(wallet_stack):
    stack = wallet_stack
    # The previous test used the wallet up, but credit still leased to the other
    # instance returns when its lease expires and may serve a request or two.
    assert wait_until(lambda: spent_out(stack, stack.envoys[0]), timeout=LEASE_TTL_MS / 1000 + 10)
    client = openai.OpenAI(base_url=f"http://{stack.envoys[0]}/v1", api_key=KEYS["support"], max_retries=0)
    before = sum(stack.sim_get("/_sim/stats")["requests"].values())
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="gpt-4o-mini", max_tokens=24, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 402
    assert e.value.code == "wallet_exhausted"
    assert "team_support" in e.value.message and "$" in e.value.message
    assert sum(stack.sim_get("/_sim/stats")["requests"].values()) == before, "refused before any provider call"
    event = stack.wait_for_event(e.value.response.headers["x-tollgate-request-id"])
    assert event["outcome"] == "refused" and event["cost_nanos"] == 0 and event["reason"] == "wallet_exhausted"
    # Other teams are untouched.
    assert ask(stack.envoys[0], key=KEYS["engineering"]).status_code == 200


def test_top_up_lets_the_team_through_within_seconds(wallet_stack):
    stack = wallet_stack
    # The wallet was used up by the previous tests.
    assert wait_until(lambda: spent_out(stack, stack.envoys[1]), timeout=LEASE_TTL_MS / 1000 + 10)
    subprocess.run(
        [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "wallet", "--ledger", f"http://{stack.ledger}",
         "allocate", "team_support", "--usd", "1.00", "--reason", "e2e top-up", "--actor", "tester",
         "--token", stack.admin_token],
        check=True, capture_output=True)
    started = time.time()
    assert wait_until(lambda: ask(stack.envoys[1]).status_code == 200, timeout=10)
    print(f"\nrefused team answered again {time.time() - started:.2f}s after the top-up")
    entries = wallet(stack)["entries"]
    assert entries[0]["kind"] == "top_up" and entries[0]["actor"] == "tester"


def test_dead_instance_lease_returns_to_the_wallet(wallet_stack):
    stack = wallet_stack
    c_addr, _ = stack.add_envoy("envoy-c")
    assert ask(c_addr, key=KEYS["finance"]).status_code == 200
    held = wallet(stack, "team_finance")
    assert held["leased_outstanding_nanos"] > 0
    stack.procs["envoy-c"].kill()
    # After the lease's time to live the unspent credit is available again.
    assert wait_until(lambda: wallet(stack, "team_finance")["leased_outstanding_nanos"]
                      < held["leased_outstanding_nanos"], timeout=LEASE_TTL_MS / 1000 + 5)
    after = wallet(stack, "team_finance")
    assert after["available_nanos"] == after["balance_nanos"] - after["leased_outstanding_nanos"]


def test_ledger_crash_and_restart_loses_and_doubles_nothing(wallet_stack):
    stack = wallet_stack
    sent = [ask(stack.envoys[0], key=KEYS["engineering"], content=f"before {i}") for i in range(5)]
    stack.restart_ledger(kill=True)
    sent += [ask(stack.envoys[0], key=KEYS["engineering"], content=f"after {i}") for i in range(5)]
    ids = {r.headers["x-tollgate-request-id"] for r in sent if r.status_code == 200}
    assert len(ids) == 10
    assert wait_until(lambda: ids <= {e["id"] for e in stack.events(team="team_engineering")})
    events = [e for e in stack.events(team="team_engineering") if e["id"] in ids]
    assert len(events) == 10


# ---- When the ledger cannot be reached: fail closed or open, per consumer group ----

OUTAGE_LEASE_TTL_MS = 3_000  # usable for 1 s (the filter stops 2 s before expiry)
OUTAGE_LEDGER_TIMEOUT_MS = 1_000
# lease::UNREACHABLE_MEMORY_MS: after a lease call finds the ledger unreachable, the
# instance decides requests needing credit without calling it, for this long.
UNREACHABLE_MEMORY_S = 2.0


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory):
    """support and finance fail open, engineering fails closed (the default); finance's
    wallet is empty, so the ledger answers "no credit" for it."""
    work = tmp_path_factory.mktemp("outage")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["cost_tracking"]["ledger_timeout_ms"] = OUTAGE_LEDGER_TIMEOUT_MS
    for g in doc["consumer_groups"]:
        if g["name"] in ("support", "finance"):
            g["on_ledger_unavailable"] = "open"
    for w in doc["wallets"]:
        if w["team_id"] == "team_finance":
            w["initial_usd"] = "0.000001"
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work, ledger_extra=["--lease-ttl-ms", str(OUTAGE_LEASE_TTL_MS)])
    yield s
    ledger = s.procs["ledger"].popen
    if ledger.poll() is None:
        ledger.send_signal(signal.SIGCONT)  # in case a test stopped it
    s.stop()


def provider_calls(stack) -> int:
    return sum(stack.sim_get("/_sim/stats")["requests"].values())


def envoy_counter(stack, name: str, **labels) -> float:
    text = requests.get(f"http://{stack.envoy_admin}/stats/prometheus", timeout=10).text
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name in (name, f"{name}_total") and all(s.labels.get(k) == v for k, v in labels.items()))


def wait_out_unreachable_memory(failed_at: float):
    """Sleeps until the instance has forgotten a ledger failure the client saw at
    `failed_at` (the filter noted it no later than that), so the next request that
    needs credit calls the ledger again."""
    time.sleep(max(0.0, failed_at + UNREACHABLE_MEMORY_S + 0.3 - time.time()))


def timed_ask(envoy, **kw):
    started = time.time()
    r = ask(envoy, **kw)
    return r, time.time() - started


def outage_checks(stack, remembered: bool):
    """With the ledger unreachable and the leases expired: engineering (closed) is
    refused with a provider-style 503 before any provider call; support (open) is
    served, unreserved.

    The first request needing credit (a probe) finds the ledger unreachable. With
    `remembered`, the checked requests follow at once, so the instance answers them
    from its memory of that failure; without, each first waits the memory out and
    calls the ledger itself. Returns a namespace: the first refusal's latency
    (`probe_took`) and when it came back (`failed_at`), the closed group's refusal and
    the open group's answer with their latencies, and a time after every failed lease
    call (`last_failure_at`)."""
    out = SimpleNamespace()

    def probe():
        r, took = timed_ask(stack.envoy, key=KEYS["engineering"], content="probe")
        if r.status_code == 503:
            out.probe_took, out.failed_at = took, time.time()
        return r.status_code == 503

    # Wait out the live leases: until then both teams are served from leased credit.
    assert wait_until(probe, timeout=OUTAGE_LEASE_TTL_MS / 1000 + 10)
    before = provider_calls(stack)
    if not remembered:
        wait_out_unreachable_memory(out.failed_at)
    out.closed, out.closed_took = timed_ask(stack.envoy, key=KEYS["engineering"], content="closed during outage")
    assert out.closed.status_code == 503, out.closed.text
    err = out.closed.json()["error"]
    assert err["code"] == "wallet_unavailable" and err["type"] == "server_error"
    assert "unreachable" in err["message"] or "did not grant" in err["message"]
    assert ("moments ago" in err["message"]) == remembered, err["message"]
    assert provider_calls(stack) == before, "a refusal calls no provider"

    if not remembered:
        wait_out_unreachable_memory(time.time())
    out.opened, out.opened_took = timed_ask(stack.envoy, key=KEYS["support"], content="open during outage")
    assert out.opened.status_code == 200, out.opened.text
    assert out.opened.json()["choices"][0]["message"]["content"]
    assert provider_calls(stack) == before + 1
    out.last_failure_at = time.time()  # no lease call failed after this
    return out


def test_exhausted_wallet_is_refused_even_when_its_group_fails_open(outage_stack):
    stack = outage_stack
    before = provider_calls(stack)
    r = ask(stack.envoy, key=KEYS["finance"])
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "wallet_exhausted"
    assert provider_calls(stack) == before
    event = stack.wait_for_event(r.headers["x-tollgate-request-id"])
    assert event["reason"] == "wallet_exhausted" and "wallet_unchecked" not in event


def test_ledger_down_fails_closed_or_open_per_consumer_group(outage_stack):
    stack = outage_stack
    # Both teams are served while the ledger is up, with reservations from leases.
    warm = [ask(stack.envoy, key=KEYS[team]) for team in ("support", "engineering")]
    assert [r.status_code for r in warm] == [200, 200]
    for r in warm:
        e = stack.wait_for_event(r.headers["x-tollgate-request-id"])
        assert e["lease_id"] and "wallet_unchecked" not in e
    spent_before = wallet(stack)["spent_nanos"]

    stack.procs["ledger"].stop()  # SIGTERM: the port is closed, calls fail at once
    out = outage_checks(stack, remembered=False)
    closed, opened = out.closed, out.opened
    assert wait_until(lambda: envoy_counter(
        stack, "tollgate_refusals", team="team_engineering", reason="wallet_unavailable") >= 1)
    assert wait_until(lambda: envoy_counter(stack, "tollgate_wallet_unchecked", team="team_support") >= 1)

    # Back up: the buffered events arrive, marked, and the unchecked spend is charged.
    stack.restart_ledger(kill=True)
    refused = stack.wait_for_event(closed.headers["x-tollgate-request-id"], timeout=30)
    assert (refused["outcome"], refused["reason"], refused["http_status"]) == ("refused", "wallet_unavailable", 503)
    assert refused["cost_nanos"] == 0 and "wallet_unchecked" not in refused
    unchecked = stack.wait_for_event(opened.headers["x-tollgate-request-id"], timeout=30)
    assert unchecked["wallet_unchecked"] is True and unchecked["outcome"] == "ok"
    assert "lease_id" not in unchecked and unchecked["cost_nanos"] > 0
    assert unchecked["cost_nanos"] == int(Decimal(opened.headers["x-tollgate-cost-usd"]) * USD)
    assert wait_until(lambda: wallet(stack)["spent_nanos"] == spent_before + unchecked["cost_nanos"])
    # Finance sees them in exports and can filter on the column.
    rows = requests.get(f"http://{stack.ledger}/v1/export", timeout=10, headers=stack.admin_headers, params={
        "from": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400)),
        "to": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400)),
        "grain": "request", "format": "jsonl", "team": "team_support"}).text.splitlines()
    marked = [json.loads(line) for line in rows if json.loads(line)["wallet_unchecked"]]
    assert [m["id"] for m in marked] == [unchecked["id"]]

    # With the ledger back (and the instance's memory of the outage expired), requests
    # are reserved again.
    wait_out_unreachable_memory(out.last_failure_at)
    again = ask(stack.envoy, key=KEYS["support"])
    assert again.status_code == 200
    e = stack.wait_for_event(again.headers["x-tollgate-request-id"])
    assert e["lease_id"] and "wallet_unchecked" not in e


def test_hung_ledger_times_out_into_the_groups_failure_mode(outage_stack):
    """A ledger that accepts connections but never answers (SIGSTOP): the lease call
    times out after cost_tracking.ledger_timeout_ms, then the same per-group rule."""
    stack = outage_stack
    ledger = stack.procs["ledger"].popen
    ledger.send_signal(signal.SIGSTOP)
    try:
        out = outage_checks(stack, remembered=False)
        # Each refusal waited for the configured timeout (1 s), not the default (5 s).
        for took in (out.probe_took, out.closed_took):
            assert OUTAGE_LEDGER_TIMEOUT_MS / 1000 * 0.9 <= took < 3, took
    finally:
        ledger.send_signal(signal.SIGCONT)
    unchecked = stack.wait_for_event(out.opened.headers["x-tollgate-request-id"], timeout=30)
    assert unchecked["wallet_unchecked"] is True
    refused = stack.wait_for_event(out.closed.headers["x-tollgate-request-id"], timeout=30)
    assert refused["reason"] == "wallet_unavailable"


def test_hung_ledger_costs_the_timeout_once_not_per_request(outage_stack):
    """After one lease call times out, the instance remembers the ledger unreachable
    for a couple of seconds: requests needing credit are then decided at once by their
    group's failure mode instead of each waiting the timeout again. Once the memory
    has expired, the next request calls the ledger again, which is back: served with a
    reservation as usual."""
    stack = outage_stack
    timeout_s = OUTAGE_LEDGER_TIMEOUT_MS / 1000
    # Start from a ledger found reachable: the closed group served (from a new lease,
    # which clears any memory of an earlier outage).
    assert wait_until(lambda: ask(stack.envoy, key=KEYS["engineering"], content="warm").status_code == 200)
    ledger = stack.procs["ledger"].popen
    ledger.send_signal(signal.SIGSTOP)
    try:
        out = outage_checks(stack, remembered=True)
        more_closed, more_took = timed_ask(stack.envoy, key=KEYS["engineering"], content="closed again")
    finally:
        ledger.send_signal(signal.SIGCONT)
    # The first request needing credit paid the timeout...
    assert timeout_s * 0.9 <= out.probe_took < 3, out.probe_took
    # ...the ones right after it did not (wide margin: wall clocks on busy machines).
    took = {"closed": out.closed_took, "open": out.opened_took, "closed again": more_took}
    print(f"\nfirst refusal {out.probe_took:.3f}s, then " + ", ".join(f"{k} {v:.3f}s" for k, v in took.items()))
    assert all(t < timeout_s / 2 for t in took.values()), took
    assert more_closed.status_code == 503 and "moments ago" in more_closed.json()["error"]["message"]

    # What the remembered decisions recorded is what an unreachable ledger records.
    unchecked = stack.wait_for_event(out.opened.headers["x-tollgate-request-id"], timeout=30)
    assert unchecked["wallet_unchecked"] is True and "lease_id" not in unchecked
    for r in (out.closed, more_closed):
        refused = stack.wait_for_event(r.headers["x-tollgate-request-id"], timeout=30)
        assert (refused["reason"], refused["http_status"]) == ("wallet_unavailable", 503)

    # The memory expires; the next request asks the (resumed) ledger and is served
    # from a fresh lease, even for the closed group.
    wait_out_unreachable_memory(out.last_failure_at)
    again = ask(stack.envoy, key=KEYS["engineering"], content="after the memory")
    assert again.status_code == 200, again.text
    e = stack.wait_for_event(again.headers["x-tollgate-request-id"])
    assert e["lease_id"] and "wallet_unchecked" not in e
