"""Leaders act from the dashboard: every move is made through the page in Chromium, as a
team lead or a finance owner would, and checked in the ledger's own API afterwards.

A ledger of its own (the demo history, like the board's), because these tests change
wallets, budgets and traffic controls. That the ledger's changes reach Envoy's traffic
is proven through the real Envoy in test_policy.py, test_allocation_requests.py and
test_budgets.py.
"""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from aiosmtpd.controller import Controller

import dashboard_board
from dashboard_board import api, cli, sign_in
from stack import wait_until

SUBMIT = """async (name, values) => {
  const form = document.querySelector(`form[data-action="${name}"]`);
  if (!form) return ['missing', ''];
  for (const [k, v] of Object.entries(values)) form.elements[k].value = v;
  form.requestSubmit();
  for (let i = 0; i < 400; i++) {
    const r = form.dataset.result;
    if (r === 'ok' || r === 'error') return [r, form.querySelector('.action-status').textContent];
    await new Promise((done) => setTimeout(done, 50));
  }
  return ['timeout', form.dataset.result || ''];
}"""


class Sinks:
    """What a team's alert channels receive: webhook POSTs and SMTP mail on loopback."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        self.mail: list = []
        sinks = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                sinks.posts.append((self.path, json.loads(self.rfile.read(int(self.headers["content-length"])))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        class Mailbox:
            async def handle_DATA(self, server, session, envelope):
                sinks.mail.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
                return "250 OK"

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.smtp_port = s.getsockname()[1]
        self.smtp = Controller(Mailbox(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def stop(self):
        self.smtp.stop()
        self.http.shutdown()


@pytest.fixture(scope="module")
def sinks():
    s = Sinks()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def desk(tmp_path_factory, sinks):
    from conftest import CONFIG

    work = tmp_path_factory.mktemp("dashboard-actions")
    # Alert email goes to the local SMTP server; alerts link back to the dashboard.
    doc = yaml.safe_load(CONFIG.read_text())
    doc.setdefault("alerts", {})
    doc["alerts"]["email"] = {"host": "127.0.0.1", "port": sinks.smtp_port, "tls": "none",
                              "from": "Tollgate <tollgate@example.com>"}
    doc["alerts"]["dashboard_url"] = "https://tollgate.example.com"
    config = work / "with-alerts.yaml"
    config.write_text(yaml.safe_dump(doc))
    board = dashboard_board.build(work, config)
    board["tokens"]["finance"] = cli("tokens", "create", "--role", "finance", "--name", "finance owner",
                                     "--data-dir", str(board["data"])).strip()
    yield board
    board["browser"].close()
    board["proc"].stop()


def press(b, card: str, label: str) -> None:
    """Clicks the button labelled `label` in the card `card`."""
    found = b.eval(f"""(() => {{
      const btn = [...document.querySelectorAll('#card-{card} button')]
        .find((x) => x.textContent === {json.dumps(label)});
      if (btn) btn.click();
      return !!btn;
    }})()""")
    assert found, f"no button {label!r} in card {card}"


def submit(b, form: str, values: dict) -> str:
    result, text = b.eval(f"({SUBMIT})({json.dumps(form)}, {json.dumps(values)})")
    assert result == "ok", (form, result, text)
    return text


def reloaded(b, card: str, attr: str, value: str) -> None:
    b.wait(f"document.querySelector('#card-{card}').dataset.{attr} === {json.dumps(value)}", 20)


def test_a_team_lead_asks_for_allocation_and_finance_approves_it_on_the_page(desk):
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-requests').dataset.state === 'ready'")
    press(b, "requests", "Ask for more allocation")
    said = submit(b, "request-allocation", {"amount_usd": "25.00", "reason": "Support launch week"})
    assert "filed" in said
    reloaded(b, "requests", "pending", "1")
    mine = api(desk, "/v1/teams/team_support/allocation-requests", "support").json()["requests"]
    assert [(r["status"], r["amount_nanos"], r["requested_by"]) for r in mine] == \
        [("pending", 25_000_000_000, "support lead")]
    before = api(desk, "/v1/wallets/team_support", "admin").json()
    assert mine[0]["evidence"]["wallet"]["balance_nanos"] == before["balance_nanos"]

    # Finance sees it on the organisation view, approves a different amount.
    b = sign_in(desk, "finance", "#scope=org&range=30d")
    b.wait("document.querySelector('#card-requests').dataset.pending === '1'")
    rid = mine[0]["id"]
    assert b.eval(f"!!document.querySelector('#card-requests li[data-id=\"{rid}\"]')")
    press(b, "requests", "Approve")
    said = submit(b, f"approve-{rid}", {"amount_usd": "20.00", "comment": "Half now"})
    assert "Approved $20.00" in said, said
    reloaded(b, "requests", "pending", "0")
    decided = api(desk, "/v1/teams/team_support/allocation-requests", "support").json()["requests"][0]
    assert (decided["status"], decided["approved_nanos"], decided["decided_by"]) == \
        ("approved", 20_000_000_000, "finance owner")
    after = api(desk, "/v1/wallets/team_support", "admin").json()
    assert after["balance_nanos"] == before["balance_nanos"] + 20_000_000_000


def test_a_team_lead_proposes_a_budget_and_finance_approves_it_on_the_page(desk):
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-budget-settings').dataset.state === 'ready'")
    press(b, "budget-settings", "Propose a change")
    said = submit(b, "budget-change", {"amount_usd": "45.00", "thresholds": "50, 90",
                                       "forecast": "100", "reason": "Launch month"})
    assert "sent to finance" in said, said
    pending = api(desk, "/v1/budget-changes", "admin", status="pending").json()["changes"]
    assert [(c["team"], c["after"]["amount_usd"], c["actor"]) for c in pending] == \
        [("team_support", "45.00", "support lead")]
    # Not in force until finance decides.
    assert api(desk, "/v1/teams/team_support/budget", "support").json()["budget"]["amount_usd"] == "30.00"

    b = sign_in(desk, "finance", "#scope=org&range=30d")
    b.wait("document.querySelector('#card-budget-settings').dataset.pending === '1'")
    press(b, "budget-settings", "Approve")
    said = submit(b, f"approve-budget-{pending[0]['id']}", {"comment": "ok"})
    assert "in force" in said, said
    now = api(desk, "/v1/teams/team_support/budget", "support").json()
    assert now["budget"]["amount_usd"] == "45.00"
    assert now["budget"]["thresholds_pct"] == [50, 90]
    # The team's page shows the budget in force and its history.
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-budget-settings').dataset.state === 'ready'")
    text = b.eval("document.querySelector('#card-budget-settings').innerText")
    assert "In force: $45.00 monthly, alerts at 50/90%" in text, text
    assert "approved" in text


def test_finance_changes_a_budget_at_once(desk):
    b = sign_in(desk, "finance", "#scope=team_engineering&range=30d")
    b.wait("document.querySelector('#card-budget-settings').dataset.state === 'ready'")
    press(b, "budget-settings", "Change the budget")
    said = submit(b, "budget-change", {"amount_usd": "250.00", "thresholds": "50, 80, 100",
                                       "forecast": "100", "reason": "Quarter plan"})
    assert "Saved" in said, said
    assert api(desk, "/v1/teams/team_engineering/budget", "admin").json()["budget"]["amount_usd"] == "250.00"


def test_a_team_lead_pauses_and_lifts_a_workflow_on_the_page(desk):
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-policy').dataset.state === 'ready'")
    assert b.eval("document.querySelector('#card-policy').dataset.pauses") == "0"
    press(b, "policy", "Pause")
    said = submit(b, "pause", {"kind": "workflow", "value": "triage", "reason": "Runaway loop"})
    assert "within about a second" in said
    reloaded(b, "policy", "pauses", "1")
    served = api(desk, "/v1/policy", "admin").json()
    pauses = served["teams"]["team_support"]["pauses"]
    assert [(p["scope"]["kind"], p["scope"]["value"], p["reason"]) for p in pauses] == \
        [("workflow", "triage", "Runaway loop")]
    # The pause is listed in force with who made it, and lifts from the page.
    text = b.eval("document.querySelector('#card-policy').innerText")
    assert "Paused: workflow triage by support lead" in text, text
    press(b, "policy", "Lift")
    submit(b, f"lift-{pauses[0]['id']}", {"reason": "Fixed"})
    reloaded(b, "policy", "pauses", "0")
    assert api(desk, "/v1/policy", "admin").json()["teams"].get("team_support", {}).get("pauses", []) == []
    history = api(desk, "/v1/teams/team_support/policy", "support").json()["changes"]
    assert [c["change"]["change"] for c in history][:2] == ["lift", "pause"]


def test_the_recommended_moves_are_the_apis_and_one_is_made_from_the_page(desk):
    moves = api(desk, "/v1/insights/recommendations", "admin").json()["moves"]
    b = sign_in(desk, "admin", "#scope=org&range=30d")
    b.wait("document.querySelector('#card-moves').dataset.state === 'ready'")
    shown = b.eval("[...document.querySelectorAll('#card-moves li.move')].map((li) => [li.dataset.kind, li.dataset.team])")
    assert shown == [[m["kind"], m["team"]] for m in moves]
    page = b.eval("document.querySelector('#card-moves').innerText")
    for m in moves:
        assert m["sentence"] in page
    restrict = [m for m in moves if m["kind"] == "restrict_premium"]
    assert restrict, moves
    idx = [m["kind"] for m in moves].index("restrict_premium")
    b.eval(f"document.querySelectorAll('#card-moves li.move')[{idx}].querySelector('button').click()")
    said = submit(b, "move-restrict_premium", {"reason": "Premium only where it pays"})
    assert "within about a second" in said, said
    team = restrict[0]["team"]
    premium = api(desk, f"/v1/teams/{team}/policy", "admin").json()["policy"]["premium"]
    assert premium and premium["allowed_workflows"] == restrict[0]["action"]["body"]["allowed_workflows"]
    # Made once: the move is no longer recommended.
    after = api(desk, "/v1/insights/recommendations", "admin").json()["moves"]
    assert ("restrict_premium", team) not in {(m["kind"], m["team"]) for m in after}
    # The team's premium view states the drift before the restriction and since.
    b = sign_in(desk, "admin", f"#scope={team}&range=30d")
    b.wait("document.querySelector('#card-premium').dataset.state === 'ready'")
    notes = b.eval("document.querySelector('#card-premium .notes').innerText")
    assert "Premium restricted on" in notes and "by e2e admin: drift was" in notes, notes
    before = b.eval("document.querySelector('#card-premium').dataset.driftBefore")
    assert before.endswith("%") and float(before[:-1]) > 0, before


def test_a_team_lead_cannot_decide_and_sees_only_their_own_team(desk):
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-requests').dataset.state === 'ready'")
    labels = b.eval("[...document.querySelectorAll('#card-requests button, #card-budget-settings button')]"
                    ".map((x) => x.textContent)")
    assert "Approve" not in labels and "Decline" not in labels
    assert "Change the budget" not in labels and "Propose a change" in labels
    # The API agrees: a team token cannot act for another team.
    r = requests.post(desk["url"] + "/v1/teams/team_engineering/policy",
                      headers={"Authorization": f"Bearer {desk['tokens']['support']}"},
                      json={"change": "pause", "scope": {"kind": "team"}, "reason": "x", "idempotency_key": "k1"},
                      timeout=10)
    assert r.status_code == 403, r.text


def test_a_team_lead_turns_on_normalised_caching_from_the_cache_view(desk):
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-cache').dataset.state === 'ready'")
    cache = api(desk, "/v1/insights/cache", "support", team="team_support").json()
    draft = next(r for r in cache["near_repeats"] if r["workflow"] == "draft-reply")
    assert draft["repeats"] > 0 and not draft["normalized_on"]
    text = b.eval("document.querySelector('#card-cache li[data-workflow=\"draft-reply\"]').innerText")
    assert f"of {draft['misses']:,} misses repeated an earlier request" in text, text
    b.eval("document.querySelector('#card-cache li[data-workflow=\"draft-reply\"] button').click()")
    said = submit(b, "normalize-team_support-draft-reply", {"reason": "Templated replies"})
    assert "within about a second" in said, said
    policy = api(desk, "/v1/teams/team_support/policy", "support").json()["policy"]
    assert "draft-reply" in policy["normalized_cache"]["workflows"]
    b.wait("document.querySelector('#card-cache li[data-workflow=\"draft-reply\"]').innerText"
           ".includes('normalised matching is on')", 20)
    # And the traffic controls list it, with a way to turn it off.
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-policy').dataset.state === 'ready'")
    assert b.eval("!!document.querySelector('#card-policy li[data-normalized=\"on\"]')")


def alert_li(b, alert_id: int, js: str):
    return b.eval(f"(() => {{ const li = document.querySelector('#card-alerts li.alert[data-id=\"{alert_id}\"]'); "
                  f"return li ? {js} : null; }})()")


def test_a_team_sets_its_channels_on_the_page_and_sees_each_delivery(desk, sinks):
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-alerts').dataset.state === 'ready'")
    for n, values in enumerate((
        {"kind": "slack", "name": "support on-call", "target": f"{sinks.url}/slack/T0/B0/secret-path",
         "receives": "alerts"},
        {"kind": "email", "name": "support leads", "target": "lead@example.com, ops@example.com", "receives": "both"},
        {"kind": "webhook", "name": "broken hook", "target": "http://127.0.0.1:9/hook/secret-two", "receives": "alerts"},
    ), start=1):
        press(b, "alerts", "Add a channel")
        said = submit(b, "add-channel", values)
        assert said.startswith(f"Added {values['name']}"), said
        assert "secret" not in said
        b.wait(f"document.querySelectorAll('#card-alerts li.channel-item').length === {n} "
               "&& document.querySelector('#card-alerts').dataset.state === 'ready'", 20)
    channels = api(desk, "/v1/teams/team_support/alert-channels", "support").json()["channels"]
    assert [(c["name"], c["kind"], c["receives"]) for c in channels] == [
        ("support on-call", "slack", ["alerts"]),
        ("support leads", "email", ["alerts", "digests"]),
        ("broken hook", "webhook", ["alerts"]),
    ]
    assert channels[0]["target"] == f"{sinks.url}/…" and "secret" not in json.dumps(channels)
    page = b.eval("document.querySelector('#card-alerts').innerText")
    assert "support leads: email lead@example.com,ops@example.com" in page and "secret" not in page

    # The next alert of the team goes to each channel: an allocation request filed.
    r = requests.post(desk["url"] + "/v1/teams/team_support/allocation-requests",
                      headers={"Authorization": f"Bearer {desk['tokens']['support']}"},
                      json={"amount_usd": "5.00", "reason": "Channel check", "idempotency_key": "alerts-e2e"},
                      timeout=10)
    assert r.status_code == 201, r.text
    request_id = r.json()["request"]["id"]

    def alert():
        got = api(desk, "/v1/teams/team_support/alerts", "support", kind="allocation_requested").json()["alerts"]
        return next((a for a in got if f"request #{request_id}" in a["message"]), None)

    def settled():
        a = alert()
        status = {d["channel"]: (d["status"], d["last_error"]) for d in (a["deliveries"] if a else [])}
        return (status.get("support on-call", ("",))[0] == "delivered"
                and status.get("support leads", ("",))[0] == "delivered"
                and (status.get("broken hook") or ("", None))[1] is not None)

    assert wait_until(settled, timeout=40), alert()
    fired = alert()
    slack = [body for path, body in sinks.posts if path == "/slack/T0/B0/secret-path"]
    assert any(fired["message"] in body["text"] and "https://tollgate.example.com/#scope=team_support" in body["text"]
               for body in slack), slack
    mail = [m for rcpt, m in sinks.mail if "lead@example.com" in rcpt]
    assert mail and mail[-1]["Subject"] == "[Tollgate] Allocation requested: team_support"
    body = mail[-1].get_content()
    assert fired["message"] in body and "https://tollgate.example.com/#scope=team_support&range=30d" in body

    # The page says where it went: delivered, or the error of the last attempt.
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-alerts').dataset.state === 'ready'")
    statuses = alert_li(b, fired["id"], "[...li.querySelectorAll('li.delivery')]"
                                        ".map((d) => [d.dataset.channel, d.dataset.status, d.textContent])")
    by_channel = {c: (s, t) for c, s, t in statuses}
    assert by_channel["support on-call"][0] == "delivered"
    assert by_channel["support leads"][0] == "delivered"
    assert by_channel["broken hook"][0] in ("pending", "failed")
    assert "cannot reach http://127.0.0.1:9: connection failed" in by_channel["broken hook"][1]
    assert "secret" not in b.eval("document.querySelector('#card-alerts').innerText")

    # Removing a channel: it no longer receives.
    b.eval("[...document.querySelectorAll('#card-alerts li.channel-item')]"
           ".find((li) => li.textContent.startsWith('broken hook')).querySelector('button').click()")
    b.wait("![...document.querySelectorAll('#card-alerts li.channel-item')]"
           ".some((li) => li.textContent.startsWith('broken hook'))", 20)
    assert [c["name"] for c in api(desk, "/v1/teams/team_support/alert-channels", "support").json()["channels"]] \
        == ["support on-call", "support leads"]
    # Leave the request decided for the other tests.
    decided = requests.post(desk["url"] + f"/v1/teams/team_support/allocation-requests/{request_id}/decision",
                            headers={"Authorization": f"Bearer {desk['tokens']['finance']}"},
                            json={"decision": "decline", "comment": "channel check only"}, timeout=10)
    assert decided.status_code == 200, decided.text


def test_alerts_are_acknowledged_on_the_page_and_lead_to_their_answer(desk):
    # A wallet run low: a correction leaves team_support 10% of its allocation.
    wallet = api(desk, "/v1/wallets/team_support", "admin").json()
    allocated, balance = wallet["allocated_nanos"], wallet["balance_nanos"]
    if balance * 100 > allocated * 20:
        cut = (balance - allocated // 10) * 10 // 9
        r = requests.post(desk["url"] + "/v1/wallets/team_support/allocations",
                          headers={"Authorization": f"Bearer {desk['tokens']['admin']}"},
                          json={"amount_usd": f"-{cut / 1e9:.2f}", "kind": "correction", "actor": "e2e",
                                "reason": "wallet-low check", "idempotency_key": "wallet-low-e2e"}, timeout=10)
        assert r.status_code in (200, 201), r.text

    def open_alerts(kind, **team):
        return api(desk, "/v1/alerts", "admin", status="open", kind=kind, **team).json()["alerts"]

    assert wait_until(lambda: open_alerts("wallet_low", team="team_support"), timeout=30)
    assert wait_until(lambda: open_alerts("actual,forecast"), timeout=30), "the demo's budgets are overrun"
    low = open_alerts("wallet_low", team="team_support")[0]
    assert "Wallet low: team_support has $" in low["message"]

    # The lead acknowledges it on the page: recorded with who and when, no longer open.
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-alerts').dataset.state === 'ready'")
    before = int(b.eval("document.querySelector('#card-alerts').dataset.open"))
    assert before == api(desk, "/v1/teams/team_support/alerts", "support").json()["open"]
    assert alert_li(b, low["id"], "li.dataset.open") == "true"
    alert_li(b, low["id"], "li.querySelector('.disclose > button').click()")
    said = submit(b, f"ack-{low['id']}", {"note": "Asked finance for more"})
    assert said == "Acknowledged by support lead.", said
    reloaded(b, "alerts", "open", str(before - 1))
    acked = api(desk, f"/v1/teams/team_support/alerts/{low['id']}", "support").json()
    assert (acked["open"], acked["acknowledgement"]["by"], acked["acknowledgement"]["note"]) == \
        (False, "support lead", "Asked finance for more")
    assert "Acknowledged by support lead" in alert_li(b, low["id"], "li.innerText")

    # Its answer: "Ask for more allocation" opens the team's request form.
    alert_li(b, low["id"], "li.querySelector('a.alert-action').click()")
    b.wait("!!document.querySelector('#card-requests form[data-action=\"request-allocation\"]')", 20)
    # Its explanation: the wallet card.
    assert alert_li(b, low["id"], "li.querySelector('a.alert-explain').textContent") == "See the wallet's runway"

    # Finance, on the organisation's board, follows a budget alert to the team's budget
    # settings, with the change form open.
    budget_alert = open_alerts("actual,forecast")[0]
    team = budget_alert["team"]
    b = sign_in(desk, "finance", "#scope=org&range=30d")
    b.wait("document.querySelector('#card-alerts').dataset.state === 'ready'")
    assert alert_li(b, budget_alert["id"], "li.dataset.team") == team
    assert alert_li(b, budget_alert["id"], "li.querySelector('a.alert-action').textContent") == "Revise the budget"
    alert_li(b, budget_alert["id"], "li.querySelector('a.alert-action').click()")
    b.wait(f"document.body.dataset.scope === {json.dumps(team)}", 20)
    b.wait("!!document.querySelector('#card-budget-settings form[data-action=\"budget-change\"]')", 20)
    # A team lead cannot acknowledge another team's alert.
    other_team = "team_engineering" if team == "team_support" else team
    other = requests.post(desk["url"] + f"/v1/teams/{other_team}/alerts/{budget_alert['id']}/acknowledge",
                          headers={"Authorization": f"Bearer {desk['tokens']['support']}"}, json={}, timeout=10)
    assert other.status_code == 403, other.text


def test_a_team_lead_sends_the_weekly_digest_from_the_page(desk, sinks):
    preview = api(desk, "/v1/teams/team_support/digest", "support").json()
    assert preview["subject"].startswith("[Tollgate] Weekly digest: team_support, ")
    b = sign_in(desk, "support", "#scope=team_support&range=30d")
    b.wait("document.querySelector('#card-alerts').dataset.state === 'ready'")
    digests = [c for c in api(desk, "/v1/teams/team_support/alert-channels", "support").json()["channels"]
               if "digests" in c["receives"]]
    assert digests, "the email channel of the channels test receives digests"
    before = len(sinks.mail)
    press(b, "alerts", "Send the weekly digest")
    said = submit(b, "send-digest", {})
    assert said.startswith(f"Sent to {len(digests)} channel"), said
    assert wait_until(lambda: any(m["Subject"] == preview["subject"] for _, m in sinks.mail[before:]), timeout=30)
    mail = next(m for _, m in sinks.mail[before:] if m["Subject"] == preview["subject"])
    body = mail.get_content().replace("\r\n", "\n")
    for line in ("Tollgate weekly digest for team_support", "Spend: $", "Budget: ", "What drove the change:",
                 "Top change:", "Recommended moves", "https://tollgate.example.com/#scope=team_support&range=30d"):
        assert line in body, body
    # Every figure is the ledger's: the spend line is the preview's.
    spend_line = next(x for x in preview["text"].splitlines() if x.startswith("Spend: "))
    assert spend_line in body
    sent = api(desk, "/v1/teams/team_support/alerts", "support", kind="digest_weekly").json()["alerts"]
    assert sent and sent[0]["message"].strip() == body.strip()
