"""Hot reload: `render-envoy --xds-dir` writes listeners and clusters to files Envoy
watches. Re-rendering after a config change (a new team, a new lane, a new price)
reaches the running Envoy — same process, no restart — while a client keeps sending
and not one of its requests fails."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from decimal import Decimal

import openai
import pytest
import requests
import yaml

import stack as harness
from stack import wait_until
from conftest import CONFIG, KEYS, expected_cost_nanos

NEW_KEY = "kt_cg_research_prod"
NEW_LANE = ("openai-big", "gpt-5.4-big")
NEW_PRICE = {"input": "2.50", "output": "10.00"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(config, bootstrap, xds_dir, sim, ledger, listen, admin):
    wasm = os.environ.get("TOLLGATE_WASM", harness.ROOT / "target/wasm32-wasip1/release/tollgate_filter.wasm")
    subprocess.run(
        [str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "render-envoy", str(config),
         "--out", str(bootstrap), "--wasm", str(wasm), "--simulator", f"http://{sim}", "--ledger", ledger,
         "--listen", listen, "--admin", admin, "--xds-dir", str(xds_dir)],
        check=True, cwd=harness.ROOT)


def start_envoy(bootstrap, work, listen):
    """Envoy as operators should run it for reloads: a drained (replaced) filter chain
    closes its keep-alive connections at their next response, so clients move to the
    new configuration at once instead of over the default 10-minute drain."""
    admin_path = work / "envoy.admin-address"
    env = dict(os.environ, OPENAI_API_KEY=harness.SIM_OPENAI_KEY, ANTHROPIC_API_KEY=harness.SIM_ANTHROPIC_KEY,
               TOLLGATE_LEDGER_TOKEN=harness.INGEST_TOKEN)
    log_path = work / "envoy.log"
    popen = subprocess.Popen(
        [harness.envoy_binary(), "-c", str(bootstrap), "--concurrency", "2", "--base-id",
         str(harness.next_base_id()), "--admin-address-path", str(admin_path),
         "--drain-strategy", "immediate", "--drain-time-s", "5", "--log-level", "info"],
        stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"), env=env, cwd=harness.ROOT)
    proc = harness.Proc("envoy", popen, log_path)
    deadline = time.time() + 60
    while time.time() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"envoy exited early:\n{proc.log_tail()}")
        if admin_path.exists() and admin_path.read_text().strip():
            admin = admin_path.read_text().strip()
            try:
                if requests.get(f"http://{admin}/ready", timeout=1).status_code == 200:
                    return proc, admin
            except requests.RequestException:
                pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"envoy not ready:\n{proc.log_tail()}")


def stat(admin, name) -> int:
    text = requests.get(f"http://{admin}/stats", params={"filter": f"^{name}$"}, timeout=5).text
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


# Reads need a token: the headers of an admin token on the reload stack's ledger.
READ: dict = {}


@pytest.fixture(scope="module")
def reload_stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("reload")
    procs = {}
    try:
        procs["simulator"], sim = harness.start_simulator(work)
        config = work / "tollgate.yaml"
        config.write_text(CONFIG.read_text())
        procs["ledger"], ledger = harness.start_ledger(work, work / "data", config=config)
        READ.update(harness.bearer(harness.create_token("admin", data_dir=work / "data")))
        listen, admin_addr = f"127.0.0.1:{free_port()}", "127.0.0.1:0"
        args = (work / "envoy.yaml", work / "xds", sim, ledger, listen, admin_addr)
        render(config, *args)
        procs["envoy"], admin = start_envoy(work / "envoy.yaml", work, listen)
        yield {"work": work, "config": config, "args": args, "listen": listen, "admin": admin,
               "envoy": procs["envoy"], "ledger": ledger, "ledger_proc": procs["ledger"]}
    finally:
        for name in ("envoy", "ledger", "simulator"):
            if name in procs:
                procs[name].stop()


class Sender:
    """Sends chat requests back to back on one keep-alive client until stopped."""

    def __init__(self, base_url):
        self.client = openai.OpenAI(base_url=base_url, api_key=KEYS["support"], max_retries=0)
        self.ok = 0
        self.ids = []
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                raw = self.client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"keep going {n}"}])
                self.ids.append(raw.headers["x-tollgate-request-id"])
                self.ok += 1
            except Exception as e:  # every failure is a finding
                self.failures.append(repr(e))


def test_new_team_lane_and_price_reach_a_running_envoy_without_dropping_requests(reload_stack):
    st = reload_stack
    base_url = f"http://{st['listen']}/v1"
    research = openai.OpenAI(base_url=base_url, api_key=NEW_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        research.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    pid = st["envoy"].popen.pid
    lds_before = stat(st["admin"], "listener_manager.lds.update_success")

    sender = Sender(base_url)
    sender.thread.start()
    time.sleep(1.0)
    before_reload = sender.ok

    doc = yaml.safe_load(st["config"].read_text())
    doc["consumer_groups"].append({"name": "research", "api_key": NEW_KEY, "wallet_team_id": "team_engineering"})
    doc["providers"]["targets"].append({"id": NEW_LANE[0], "provider": "openai", "model": NEW_LANE[1],
                                        "secret_key_ref": {"env": "OPENAI_API_KEY"}})
    doc["pricing"][NEW_LANE[1]] = NEW_PRICE
    st["config"].write_text(yaml.safe_dump(doc))
    render(st["config"], *st["args"])

    # The new team's key is accepted once Envoy has applied the new listener.
    deadline = time.time() + 20
    while True:
        try:
            research.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            break
        except openai.AuthenticationError:
            assert time.time() < deadline, "the new consumer group never became valid"
            time.sleep(0.2)
    # The new lane serves its model, priced at the new price.
    raw = research.chat.completions.with_raw_response.create(
        model=NEW_LANE[1], messages=[{"role": "user", "content": "which lane?"}])
    assert raw.headers["x-tollgate-lane"] == NEW_LANE[0]
    usage = raw.parse().usage
    micro = {k: int(Decimal(v) * 1_000_000) for k, v in NEW_PRICE.items()}
    price = {"input": micro["input"], "cached_input": micro["input"], "cache_write": micro["input"],
             "output": micro["output"]}
    tokens = {"input": usage.prompt_tokens, "cached_input": 0, "cache_write": 0, "output": usage.completion_tokens}
    assert int(Decimal(raw.headers["x-tollgate-cost-usd"]) * 1_000_000_000) == expected_cost_nanos(price, tokens)

    time.sleep(1.0)
    sender.stop.set()
    sender.thread.join(timeout=30)
    assert sender.failures == [], f"{len(sender.failures)} requests failed during the reload: {sender.failures[:3]}"
    assert sender.ok > before_reload + 5, "the client stopped getting answers"
    # No charge lost across the reload: every answered request's event is stored.
    def stored():
        r = requests.get(f"http://{st['ledger']}/v1/export", timeout=30, headers=READ, params={
            "from": "2020-01-01", "to": "2100-01-01", "grain": "request", "format": "jsonl"})
        return {json.loads(line)["id"] for line in r.text.splitlines() if line.strip()}
    assert harness.wait_until(lambda: set(sender.ids) <= stored(), timeout=15), \
        f"{len(set(sender.ids) - stored())} answered requests have no event"
    # Same process, one more listener update: a reload, not a restart.
    assert st["envoy"].popen.poll() is None and st["envoy"].popen.pid == pid
    assert stat(st["admin"], "listener_manager.lds.update_success") > lds_before
    assert stat(st["admin"], "server.hot_restart_epoch") == 0


DESIGN_KEY = "kt_cg_design_prod"


def ledger_metric(ledger, name, **labels) -> float:
    text = requests.get(f"http://{ledger}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_new_team_with_its_own_wallet_needs_no_ledger_restart(reload_stack):
    """The ledger follows its config file: a new wallet appears with its opening
    allocation (once, however often the config is reloaded), its budget is served, a
    broken file changes nothing, and the new team is served with its wallet enforced —
    the same ledger and Envoy processes throughout."""
    st = reload_stack
    ledger, ledger_proc = st["ledger"], st["ledger_proc"]
    pid = ledger_proc.popen.pid
    assert requests.get(f"http://{ledger}/v1/wallets/team_design", timeout=10, headers=READ).status_code == 404

    good = yaml.safe_load(st["config"].read_text())
    good["consumer_groups"].append({"name": "design", "api_key": DESIGN_KEY, "wallet_team_id": "team_design"})
    good["wallets"].append({"team_id": "team_design", "initial_usd": "7.50"})
    good["budgets"].append({"team_id": "team_design", "amount_usd": "5.00", "period": "monthly"})
    st["config"].write_text(yaml.safe_dump(good))
    render(st["config"], *st["args"])

    # The ledger notices the changed file by itself (no signal, no restart).
    assert wait_until(lambda: requests.get(f"http://{ledger}/v1/wallets/team_design", timeout=10, headers=READ).status_code == 200)
    w = requests.get(f"http://{ledger}/v1/wallets/team_design", timeout=10, headers=READ).json()
    assert w["allocated_nanos"] == 7_500_000_000
    assert [e["kind"] for e in w["entries"]] == ["initial"]
    budgets = requests.get(f"http://{ledger}/v1/budgets", timeout=10, headers=READ).json()["budgets"]
    assert "team_design" in {b["team"] for b in budgets}

    # The new team is served once Envoy has the new listener, from a lease on its wallet.
    design = openai.OpenAI(base_url=f"http://{st['listen']}/v1", api_key=DESIGN_KEY, max_retries=0)

    def served():
        try:
            return design.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError:
            return None

    assert wait_until(lambda: served() is not None)
    raw = served()
    assert raw is not None and raw.http_response.status_code == 200
    lease = requests.get(f"http://{ledger}/v1/wallets/team_design", timeout=10, headers=READ).json()
    assert lease["leased_outstanding_nanos"] > 0

    # SIGHUP reloads at once; the opening allocation is not applied twice.
    ok_before = ledger_metric(ledger, "tollgate_ledger_config_reloads_total", result="ok")
    os.kill(pid, signal.SIGHUP)
    assert wait_until(lambda: ledger_metric(ledger, "tollgate_ledger_config_reloads_total", result="ok") > ok_before)
    w = requests.get(f"http://{ledger}/v1/wallets/team_design", timeout=10, headers=READ).json()
    assert w["allocated_nanos"] == 7_500_000_000 and len(w["entries"]) == 1

    # A broken file is reported and ignored: the ledger keeps the configuration in force.
    invalid_before = ledger_metric(ledger, "tollgate_ledger_config_reloads_total", result="invalid")
    st["config"].write_text(st["config"].read_text().replace("wallet_team_id: team_design", "wallet_team: team_design"))
    assert wait_until(lambda: ledger_metric(
        ledger, "tollgate_ledger_config_reloads_total", result="invalid") > invalid_before)
    assert "team_design" in {b["team"] for b in requests.get(f"http://{ledger}/v1/budgets", timeout=10, headers=READ).json()["budgets"]}
    assert "configuration not reloaded" in ledger_proc.log_path.read_text()
    assert DESIGN_KEY not in ledger_proc.log_path.read_text()
    st["config"].write_text(yaml.safe_dump(good))

    assert ledger_proc.popen.poll() is None and ledger_proc.popen.pid == pid
