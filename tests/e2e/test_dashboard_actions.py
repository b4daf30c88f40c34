"""Leaders act from the dashboard: every move is made through the page in Chromium, as a
team lead or a finance owner would, and checked in the ledger's own API afterwards.

A ledger of its own (the demo history, like the board's), because these tests change
wallets, budgets and traffic controls. That the ledger's changes reach Envoy's traffic
is proven through the real Envoy in test_policy.py, test_allocation_requests.py and
test_budgets.py.
"""

from __future__ import annotations

import json

import pytest
import requests

import dashboard_board
from dashboard_board import api, cli, sign_in

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


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    from conftest import CONFIG

    work = tmp_path_factory.mktemp("dashboard-actions")
    board = dashboard_board.build(work, CONFIG)
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
