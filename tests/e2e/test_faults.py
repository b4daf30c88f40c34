"""Faults and bad input: broken provider streams, stalls, clients that leave, malformed
requests. Each gets a clear answer, a recorded event where a team is known, released
reservations, and the filter VM keeps serving."""

import json
import socket
import subprocess
import time

import anthropic
import pytest
import requests

from conftest import KEYS

AUTH = {"authorization": f"Bearer {KEYS['engineering']}"}


def post(stack, data, headers=None, path="/v1/chat/completions", timeout=10):
    return requests.post(f"http://{stack.envoy}{path}", data=data, timeout=timeout,
                         headers={**AUTH, "content-type": "application/json", **(headers or {})})


def chat_body(**extra):
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "fault"}], **extra}).encode()


def wallet(stack, team="team_engineering"):
    return stack.ledger_get(f"/v1/wallets/{team}")


def test_broken_provider_stream_records_what_was_consumed(stack):
    client = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["engineering"], max_retries=0)
    with pytest.raises(Exception):
        with client.messages.stream(model="claude-haiku", max_tokens=20,
                                    messages=[{"role": "user", "content": "break the stream"}],
                                    extra_headers={"x-sim-error": "broken-stream"}) as s:
            request_id = s.response.headers["x-tollgate-request-id"]
            for _ in s.text_stream:
                pass
    event = stack.wait_for_event(request_id)
    assert event["outcome"] == "incomplete" and event["http_status"] == 200
    # message_start arrived before the break: input tokens are known and charged. Its
    # output_tokens is a placeholder, so output is estimated from the text delivered.
    assert event["usage_source"] == "estimated" and event["tokens"]["input"] > 0
    assert event["cost_nanos"] > 0


def test_stalled_provider_and_departed_client_release_the_reservation(stack):
    before = wallet(stack)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(stack, chat_body(max_tokens=500), {"x-sim-latency-ms": "3000"}, timeout=0.5)
    # The event arrives once Envoy notices the client left (or the stall ends).
    deadline = time.time() + 10
    event = None
    while time.time() < deadline and event is None:
        events = [e for e in stack.events(team="team_engineering") if e.get("reason") == "no_response"]
        event = events[0] if events else None
        time.sleep(0.2)
    assert event is not None, "a request that got no answer is still recorded"
    assert event["outcome"] == "incomplete" and event["cost_nanos"] == 0
    after = wallet(stack)
    # Nothing was spent on it, and its reservation did not stay held locally: the
    # wallet's spend did not move because of it.
    assert after["spent_nanos"] - before["spent_nanos"] == sum(
        e["cost_nanos"] for e in stack.events(team="team_engineering")
        if e["ts_ms"] >= event["ts_ms"] and e["id"] != event["id"])


@pytest.mark.parametrize("data,status,needle", [
    (b'{"model": "gpt-4o-mini", "messages": [', 400, "not valid JSON"),
    (b"\xff\xfe\x00 not utf-8", 400, "not valid JSON"),
    (b"model=gpt-4o-mini", 400, "not valid JSON"),
    (b'["an array"]', 400, "JSON object"),
    (b'{"messages": []}', 400, "`model` is required"),
    (json.dumps({"model": "m", "max_tokens": -5, "messages": []}).encode(), 400, "positive integer"),
])
def test_bad_requests_get_clear_provider_style_errors_and_events(stack, data, status, needle):
    r = post(stack, data, {"content-type": "text/plain"})
    assert r.status_code == status
    body = r.json()
    assert needle in body["error"]["message"] and body["error"]["type"] == "invalid_request_error"
    event = stack.wait_for_event(r.headers["x-tollgate-request-id"])
    assert event["outcome"] == "bad_request" and event["team"] == "team_engineering"


def test_body_over_the_limit_is_413(stack):
    big = chat_body(padding="x" * (5 * 1024 * 1024))
    r = post(stack, big)
    assert r.status_code == 413
    assert "exceeds" in r.json()["error"]["message"]


def test_absurd_max_tokens_is_refused_by_the_wallet_not_sent(stack):
    before = sum(stack.sim_get("/_sim/stats")["requests"].values())
    r = post(stack, chat_body(max_tokens=10**12))
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "wallet_exhausted"
    assert sum(stack.sim_get("/_sim/stats")["requests"].values()) == before


def test_raw_socket_client_leaving_mid_request_does_not_hurt_the_vm(stack):
    host, port = stack.envoy.split(":")
    for _ in range(5):
        s = socket.create_connection((host, int(port)))
        body = chat_body(stream=True)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  + f"Authorization: Bearer {KEYS['engineering']}\r\nContent-Type: application/json\r\n".encode()
                  + f"Content-Length: {len(body) + 100}\r\n\r\n".encode() + body)  # promises more than it sends
        s.close()
    # After all of the above, the filter still serves normally.
    r = post(stack, chat_body())
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]


def test_ledger_sigkill_under_load_loses_and_doubles_nothing(tmp_path_factory):
    import threading

    import stack as harness
    from conftest import CONFIG

    work = tmp_path_factory.mktemp("ledger-crash")
    s = harness.start_stack(CONFIG, work)
    answered, seen, stop = [], [], threading.Event()
    lock = threading.Lock()

    def client(n):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = requests.post(f"http://{s.envoy}/v1/chat/completions", timeout=10,
                                  headers={"authorization": f"Bearer {KEYS['support']}"},
                                  json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{n}/{i}"}]})
            except requests.RequestException:
                continue
            with lock:
                if "x-tollgate-request-id" in r.headers:
                    seen.append(r.headers["x-tollgate-request-id"])
                if r.status_code == 200:
                    answered.append(r.headers["x-tollgate-request-id"])

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        s.restart_ledger(kill=True)  # SIGKILL mid-load, then start on the same data
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        assert len(answered) > 20
        # Every answered request has its event, and exactly one; so has every refusal.
        by_outcome = {}
        deadline = time.time() + 20
        while time.time() < deadline:
            rows = s.ledger_get("/v1/spend", group_by="outcome", team="team_support")["rows"]
            by_outcome = {row["key"]["outcome"]: row["requests"] for row in rows}
            if sum(by_outcome.values()) >= len(seen):
                break
            time.sleep(0.3)
        assert by_outcome.get("ok") == len(answered)
        assert sum(by_outcome.values()) == len(set(seen))
        recent = {e["id"] for e in s.events(team="team_support")}
        assert set(answered[-100:]) <= recent
    finally:
        stop.set()
        s.stop()


def test_event_buffer_settings_bound_what_waits_for_the_ledger(tmp_path_factory):
    """cost_tracking.event_buffer from the user's YAML reaches the flusher: with room
    for 5 events, 8 answered while the ledger is down leave the 5 newest, sent in
    batches of at most 2 when it is back; the 3 oldest are counted as dropped."""
    import stack as harness
    import yaml
    from conftest import CONFIG
    from prometheus_client.parser import text_string_to_metric_families

    work = tmp_path_factory.mktemp("event-buffer")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["cache"]["enabled"] = False
    doc["cost_tracking"]["wallet_enforcement"] = False  # the ledger is only the event sink here
    doc["cost_tracking"]["event_buffer"] = {"max_events": 5, "batch_size": 2, "flush_interval_ms": 50}
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    s = harness.start_stack(config, work)

    def envoy_counter(name):
        text = requests.get(f"http://{s.envoy_admin}/stats/prometheus", timeout=10).text
        return sum(x.value for fam in text_string_to_metric_families(text) for x in fam.samples
                   if x.name in (name, f"{name}_total"))

    def ledger_counter(name, **labels):
        text = requests.get(f"http://{s.ledger}/metrics", timeout=10).text
        return sum(x.value for fam in text_string_to_metric_families(text) for x in fam.samples
                   if x.name == name and all(x.labels.get(k) == v for k, v in labels.items()))

    try:
        s.procs["ledger"].stop()
        ids = []
        for i in range(8):
            r = requests.post(f"http://{s.envoy}/v1/chat/completions", timeout=10,
                              headers={"authorization": f"Bearer {KEYS['support']}"},
                              json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"buffered {i}"}]})
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-tollgate-request-id"])
            time.sleep(0.15)  # each event reaches the flusher before the next request
        assert harness.wait_until(lambda: envoy_counter("tollgate_events_dropped") == 3)
        # The outage is visible in Envoy's stats: what waits, and for how long.
        assert envoy_counter("tollgate_events_buffered") == 5
        assert envoy_counter("tollgate_events_oldest_age_ms") > 0
        s.restart_ledger(kill=True)
        assert harness.wait_until(lambda: len(s.events(team="team_support")) >= 5)
        time.sleep(1.0)  # nothing more is coming
        assert {e["id"] for e in s.events(team="team_support")} == set(ids[3:])
        # The fresh ledger received them in batches of at most two: 2 + 2 + 1.
        assert ledger_counter("tollgate_ledger_ingest_events_total", result="accepted") == 5
        assert ledger_counter("tollgate_ledger_ingest_batches_total", status="ok") == 3
        # The flusher said what it dropped; the dashboard shows it as a banner.
        token = subprocess.run(
            [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "tokens", "create",
             "--role", "admin", "--name", "outage", "--data-dir", str(s.data_dir)],
            check=True, capture_output=True, text=True).stdout.strip().split()[-1]
        delivery = requests.get(f"http://{s.ledger}/v1/insights/delivery", timeout=10,
                                headers={"authorization": f"Bearer {token}"}).json()
        assert delivery["dropped_total"] == 3, delivery
        assert "3 cost events were dropped" in delivery["summary"]
        assert harness.wait_until(lambda: envoy_counter("tollgate_events_oldest_age_ms") == 0)
    finally:
        s.stop()
