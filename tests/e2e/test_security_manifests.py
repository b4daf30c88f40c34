"""The attacks of test_security.py against the stack the Kubernetes example deploys:
the ledger started exactly as examples/k8s/ledger.yaml starts it (its args, the
ConfigMap's config from examples/k8s/ledger-config.generated.yaml, a token in the
Secret's mounted file) and the real Envoy with the bootstrap and xDS files the
envoy-config ConfigMaps mount (examples/k8s/envoy-config.generated.yaml) and the
environment examples/k8s/envoy.yaml gives it. Only what a laptop cannot have is moved:
paths into a temporary directory, ports onto loopback, the providers' clusters onto the
simulator (plain HTTP) and the ledger's Service onto the ledger's address. Nothing a
newcomer has to add makes it safe."""

import secrets
import socket
import time

import openai

import pytest
import requests
import yaml

import stack as harness
from conftest import KEYS
from stack import wait_until

ROOT = harness.ROOT
USD = 1_000_000_000


def manifest_args() -> list[str]:
    docs = list(yaml.safe_load_all((ROOT / "examples/k8s/ledger.yaml").read_text()))
    deployment = next(d for d in docs if d and d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # The only environment the manifest gives is an optional PostgreSQL URL: SQLite here.
    assert [e["name"] for e in container.get("env", [])] == ["TOLLGATE_DATABASE_URL"]
    return container["args"]


@pytest.fixture(scope="module")
def k8s_ledger(tmp_path_factory):
    work = tmp_path_factory.mktemp("k8s-ledger")
    configmap = yaml.safe_load((ROOT / "examples/k8s/ledger-config.generated.yaml").read_text())
    config = work / "etc-tollgate" / "tollgate.yaml"
    config.parent.mkdir()
    config.write_text(configmap["data"]["tollgate.yaml"])
    token = "tgk_" + secrets.token_hex(32)
    token_file = work / "etc-tollgate-ledger-token" / "token"
    token_file.parent.mkdir()
    token_file.write_text(token + "\n")
    data = work / "data"
    moved = {"/etc/tollgate/tollgate.yaml": str(config), "/var/lib/tollgate": str(data),
             "/etc/tollgate-ledger-token/token": str(token_file), "0.0.0.0:8080": "127.0.0.1:0"}
    args = []
    for arg in manifest_args():
        for old, new in moved.items():
            arg = arg.replace(old, new)
        args.append(arg)
    assert args[0] == "serve" and f"--ingest-token-file={token_file}" in args, args
    argv = [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), *args]
    proc, addr = harness._start_announcing("ledger", argv, work, "tollgate-ledger listening on")
    admin = harness.create_token("admin", data_dir=data)
    procs = [proc]
    try:
        sim, sim_addr = harness.start_simulator(work)
        procs.append(sim)
        envoy, listener, envoy_admin = start_manifest_envoy(work, ledger=addr, simulator=sim_addr, token=token)
        procs.append(envoy)
        yield {"url": f"http://{addr}", "ingest": harness.bearer(token), "admin": harness.bearer(admin),
               "data": data, "proc": proc, "token": token, "envoy": envoy, "listener": listener,
               "envoy_admin": envoy_admin, "work": work}
    finally:
        for p in reversed(procs):
            p.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configmap_files(name: str) -> dict:
    docs = yaml.safe_load_all((ROOT / "examples/k8s/envoy-config.generated.yaml").read_text())
    return next(d for d in docs if d and d["metadata"]["name"] == name)["data"]


def start_manifest_envoy(work, *, ledger: str, simulator: str, token: str):
    """Envoy with the ConfigMaps' files as the manifest mounts them, and the Secrets'
    values in its environment; returns (proc, listener address, admin address)."""
    wasm = harness.ROOT / "target/wasm32-wasip1/release/tollgate_filter.wasm"
    xds = work / "etc-tollgate-xds"
    xds.mkdir()
    admin_port = free_port()

    def moved(text: str) -> str:
        return (text.replace("/etc/tollgate/wasm/plugin.wasm", str(wasm))
                .replace("/etc/tollgate/xds", str(xds))
                .replace("port_value: 9901", f"port_value: {admin_port}"))

    bootstrap = work / "envoy.yaml"
    bootstrap.write_text(moved(configmap_files("tollgate-envoy-bootstrap")["envoy.yaml"]))
    files = configmap_files("tollgate-envoy-xds")
    lds = yaml.safe_load(moved(files["lds.yaml"]))
    for listener in lds["resources"]:
        listener["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    cds = yaml.safe_load(moved(files["cds.yaml"]))
    sim_host, sim_port = simulator.rsplit(":", 1)
    ledger_host, ledger_port = ledger.rsplit(":", 1)
    for cluster in cds["resources"]:
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        if cluster["name"].startswith("provider_"):
            # The simulator speaks plain HTTP/1.1 on loopback, not TLS (and ALPN) to the
            # public API.
            cluster.pop("transport_socket")
            options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            options.pop("auto_config")
            options["explicit_http_config"] = {"http_protocol_options": {}}
            address["socket_address"].update(address=sim_host, port_value=int(sim_port))
        elif cluster["name"] == "tollgate_ledger":
            assert address["socket_address"]["address"] == "tollgate-ledger.tollgate.svc.cluster.local"
            address["socket_address"].update(address=ledger_host, port_value=int(ledger_port))
    (xds / "lds.yaml").write_text(yaml.safe_dump(lds))
    (xds / "cds.yaml").write_text(yaml.safe_dump(cds))
    # envoy.yaml's Deployment: provider keys from Secret tollgate-provider-keys (envFrom),
    # TOLLGATE_LEDGER_TOKEN from Secret tollgate-ledger-token.
    docs = list(yaml.safe_load_all((ROOT / "examples/k8s/envoy.yaml").read_text()))
    container = next(d for d in docs if d and d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["tollgate-provider-keys"]
    assert [(e["name"], e["valueFrom"]["secretKeyRef"]["name"]) for e in container["env"]] == [
        ("TOLLGATE_LEDGER_TOKEN", "tollgate-ledger-token")]
    proc, _, admin = harness.start_envoy(bootstrap, work, harness.next_base_id(), name="envoy", ledger_token=token)

    def listener():
        statuses = requests.get(f"http://{admin}/listeners?format=json", timeout=5).json()["listener_statuses"]
        return next((s for s in statuses if s["name"] == "tollgate" and "local_address" in s), None)

    assert wait_until(listener), requests.get(f"http://{admin}/listeners?format=json", timeout=5).text
    sock = listener()["local_address"]["socket_address"]
    return proc, f"{sock['address']}:{sock['port_value']}", admin


def test_the_manifests_envoy_accounts_real_traffic_and_none_of_it_is_quarantined(k8s_ledger):
    url, admin = k8s_ledger["url"], k8s_ledger["admin"]
    client = openai.OpenAI(base_url=f"http://{k8s_ledger['listener']}/v1", api_key=KEYS["support"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello through the manifests"}])
    request_id = raw.headers["x-tollgate-request-id"]

    def landed():
        events = requests.get(f"{url}/v1/events", headers=admin, timeout=10).json()["events"]
        return next((e for e in events if e["id"] == request_id), None)

    assert wait_until(landed), "the event reaches the ledger with the Secret's token"
    e = landed()
    assert e["team"] == "team_support" and e["cost_nanos"] > 0 and e["lane"] == "openai-gpt4o-mini", e
    quarantined = requests.get(f"{url}/v1/quarantine", headers=admin, timeout=10).json()["quarantined_events"]
    assert request_id not in {q["event_id"] for q in quarantined}
    # The data plane's routes are not reachable through Envoy's listener.
    for headers in ({}, {"authorization": f"Bearer {KEYS['support']}"}):
        r = requests.post(f"http://{k8s_ledger['listener']}/v1/events", headers=headers, timeout=10,
                          json=[event("via-envoy", "team_support", 400 * USD)])
        assert r.status_code in (401, 404), r.text
    events = requests.get(f"{url}/v1/events", headers=admin, timeout=10).json()["events"]
    assert "via-envoy" not in {e["id"] for e in events}


def test_no_secret_in_envoy_config_dump_logs_events_or_exports(k8s_ledger):
    url, admin = k8s_ledger["url"], k8s_ledger["admin"]
    window = {"from": "2020-01-01", "to": "2100-01-01"}
    texts = {
        "config_dump": requests.get(f"http://{k8s_ledger['envoy_admin']}/config_dump", timeout=10).text,
        "envoy log": k8s_ledger["envoy"].log_path.read_text(errors="replace"),
        "ledger log": k8s_ledger["proc"].log_path.read_text(errors="replace"),
        "events": requests.get(f"{url}/v1/events", headers=admin, timeout=10).text,
        "quarantine": requests.get(f"{url}/v1/quarantine", headers=admin, timeout=10).text,
        "audit": requests.get(f"{url}/v1/audit", params={"format": "jsonl"}, headers=admin, timeout=10).text,
    }
    for fmt in ("csv", "jsonl", "focus"):
        r = requests.get(f"{url}/v1/export", params=dict(window, format=fmt), headers=admin, timeout=10)
        assert r.status_code == 200, (fmt, r.text[:200])
        texts[f"export {fmt}"] = r.text
    assert "TOLLGATE_LEDGER_TOKEN" in texts["config_dump"], "only the variable's name"
    secrets_ = (k8s_ledger["token"], harness.SIM_OPENAI_KEY, harness.SIM_ANTHROPIC_KEY, *KEYS.values())
    for where, text in texts.items():
        for secret in secrets_:
            assert secret not in text, (where, secret[:6])


# What 10 input and 20 output tokens of the ConfigMap's gpt-5.4-mini-mini cost (0.15 and
# 0.60 $ per million): the cost an honest event of `event()` must carry.
HONEST_COST = 10 * 150 + 20 * 600


def event(i: str, team: str, cost: int = HONEST_COST) -> dict:
    return {
        "id": i, "ts_ms": int(time.time() * 1000), "consumer_group": team.removeprefix("team_"), "team": team,
        "api": "chat_completions", "provider": "openai", "lane": "openai-gpt4o-mini",
        "model_requested": "gpt-4o-mini", "model_served": "gpt-5.4-mini-mini",
        "tokens": {"input": 10, "cached_input": 0, "cache_write": 0, "output": 20},
        "usage_source": "reported", "cost_nanos": cost, "unpriced": False, "outcome": "ok",
        "http_status": 200, "latency_ms": 12, "stream": False, "cache": "miss", "cost_avoided_nanos": 0,
        "premium": False, "premium_approved": False, "workflow": "no-such-workflow",
    }


def test_reads_need_a_token(k8s_ledger):
    url = k8s_ledger["url"]
    for path in ("/v1/spend", "/v1/wallets", "/v1/wallets/team_support", "/v1/budgets", "/v1/alerts",
                 "/v1/events", "/v1/export", "/v1/rejected-events", "/v1/policy", "/v1/audit", "/v1/new-route"):
        r = requests.get(url + path, params={"from": "2020-01-01", "to": "2100-01-01"}, timeout=10)
        assert r.status_code == 401, (path, r.text[:200])


def test_a_forged_event_and_a_stolen_lease_are_refused(k8s_ledger):
    url, admin = k8s_ledger["url"], k8s_ledger["admin"]
    before = requests.get(f"{url}/v1/wallets/team_support", headers=admin, timeout=10).json()
    assert before["available_nanos"] > 0
    for headers in ({}, {"authorization": "Bearer tgk_" + "0" * 64}, admin):
        r = requests.post(f"{url}/v1/events", json=[event("forged-400", "team_support", 400 * USD)],
                          headers=headers, timeout=10)
        assert r.status_code in (401, 403), r.text
        r = requests.post(f"{url}/v1/leases", headers=headers, timeout=10,
                          json={"instance": "made-up", "team": "team_support",
                                "want_nanos": before["available_nanos"]})
        assert r.status_code in (401, 403), r.text
    after = requests.get(f"{url}/v1/wallets/team_support", headers=admin, timeout=10).json()
    assert (after["spent_nanos"], after["available_nanos"]) == (before["spent_nanos"], before["available_nanos"])
    events = requests.get(f"{url}/v1/events", headers=admin, timeout=10).json()["events"]
    assert "forged-400" not in {e["id"] for e in events}


def test_forged_events_with_the_stolen_ingest_token_are_quarantined_not_charged(k8s_ledger):
    url, ingest, admin = k8s_ledger["url"], k8s_ledger["ingest"], k8s_ledger["admin"]
    before = requests.get(f"{url}/v1/wallets/team_support", headers=admin, timeout=10).json()
    other_wallet = dict(event("q-group", "team_support"), consumer_group="engineering")
    forged = [event("q-cost", "team_support", 400 * USD), event("q-team", "team_00"), other_wallet,
              dict(event("q-lane", "team_support"), lane="openai-gpt5"), event("q-ok", "team_support")]
    r = requests.post(f"{url}/v1/events", json=forged, headers=ingest, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1, body
    assert [(q["id"], q["reason"]) for q in body["quarantined"]] == [
        ("q-cost", "cost_mismatch"), ("q-team", "unknown_team"), ("q-group", "unknown_group"),
        ("q-lane", "unknown_lane")]
    after = requests.get(f"{url}/v1/wallets/team_support", headers=admin, timeout=10).json()
    assert after["spent_nanos"] - before["spent_nanos"] == HONEST_COST, "only the honest event is charged"
    listed = requests.get(f"{url}/v1/quarantine", headers=admin, timeout=10).json()["quarantined_events"]
    assert {q["event_id"] for q in listed} >= {"q-cost", "q-team", "q-group", "q-lane"}
    assert requests.get(f"{url}/v1/quarantine", headers=ingest, timeout=10).status_code == 403
    audit = requests.get(f"{url}/v1/audit", params={"format": "jsonl"}, headers=admin, timeout=10).text
    assert "POST /v1/events (quarantined)" in audit and "q-cost" in audit
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert 'tollgate_ledger_ingest_quarantined_events_total{reason="cost_mismatch"}' in metrics


def test_a_team_token_is_confined_to_its_team(k8s_ledger):
    url, ingest = k8s_ledger["url"], k8s_ledger["ingest"]
    r = requests.post(f"{url}/v1/events", headers=ingest, timeout=10,
                      json=[event("s1", "team_support"), event("e1", "team_engineering")])
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    support = harness.bearer(harness.create_token("team", data_dir=k8s_ledger["data"], team="team_support"))
    window = {"from": "2020-01-01", "to": "2100-01-01"}
    r = requests.get(f"{url}/v1/spend", params=dict(window, group_by="team"), headers=support, timeout=10)
    assert {row["key"]["team"] for row in r.json()["rows"]} == {"team_support"}
    r = requests.get(f"{url}/v1/export", params=dict(window, team="team_engineering"), headers=support, timeout=10)
    assert r.status_code == 403
    r = requests.get(f"{url}/v1/events", headers=support, timeout=10)
    assert {e["team"] for e in r.json()["events"]} == {"team_support"}
    assert requests.get(f"{url}/v1/wallets/team_engineering", headers=support, timeout=10).status_code == 403


def test_no_path_or_secret_in_answers_or_logs(k8s_ledger):
    url, admin = k8s_ledger["url"], k8s_ledger["admin"]
    wallet = requests.get(f"{url}/v1/wallets/team_support", headers=admin, timeout=10).json()
    assert all("/" not in e["reason"] for e in wallet["entries"]), wallet["entries"]
    audit = requests.get(f"{url}/v1/audit", params={"format": "jsonl"}, headers=admin, timeout=10).text
    assert "config.load" in audit and "/etc" not in audit and str(k8s_ledger["data"]) not in audit
    log = k8s_ledger["proc"].log_path.read_text(errors="replace")
    for secret in (k8s_ledger["token"], *KEYS.values()):
        assert secret not in audit and secret not in log
