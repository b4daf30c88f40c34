"""The leaders' dashboard end to end: a ledger with 60 seeded days of demo history and
`--require-tokens`, tokens created with the CLI, and the page driven in headless
Chromium (Debian's `chromium`, through the DevTools protocol). Every chart must render
the data the API gives for the same scope and range, a team token must see only its
team, and screenshots go to tests/artifacts/."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import websocket
import yaml

import stack as harness
from conftest import CONFIG

ARTIFACTS = harness.ROOT / "tests" / "artifacts"
CHARTS = ["budget", "teams", "drivers", "mix", "cache", "premium", "users", "workflows"]
TEAM_CHARTS = [c for c in CHARTS if c != "teams"]


def chromium_binary() -> str:
    for candidate in (os.environ.get("CHROMIUM_BIN"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("chromium not found: apt-get install -y chromium (or set CHROMIUM_BIN)")


class Browser:
    """Headless Chromium, driven over the DevTools protocol (one page)."""

    def __init__(self, work: Path):
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=work))
        self.log = open(work / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"chromium did not start: {(work / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = []
        while not pages and time.time() < deadline:
            pages = [t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                     if t["type"] == "page"]
            time.sleep(0.1)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1440, height=1000, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params):
        self.next_id += 1
        me = self.next_id
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}…: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        # Via a blank page, so a URL that differs only in its fragment still loads anew.
        self.call("Page.navigate", url="about:blank")
        self.wait("document.readyState === 'complete' && location.href === 'about:blank'")
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'")

    def wait(self, expression: str, timeout: float = 30.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expression)
                if last:
                    return last
            except RuntimeError:
                pass  # a navigation replaced the context; try again
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression!r} (last {last!r})")

    def wait_charts(self, names: list[str]) -> None:
        names_js = json.dumps(names)
        self.wait(
            f"(() => {{ const want = {names_js};"
            " const cards = [...document.querySelectorAll('#grid [data-chart]')];"
            " return cards.length === want.length && cards.every(c => want.includes(c.dataset.chart))"
            " && cards.every(c => c.dataset.state !== 'loading'); })()"
        )

    def card(self, name: str) -> dict:
        """What a chart card shows: its state and sentence, and its Chart's data."""
        return self.eval(f"""(() => {{
            const card = document.querySelector('[data-chart="{name}"]');
            const chart = window.tollgate.charts['{name}'];
            const canvas = card.querySelector('canvas');
            const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i]) painted++;
            return {{
                state: card.dataset.state, summary: card.dataset.summary,
                say: card.querySelector('.say').textContent,
                notes: [...card.querySelectorAll('.notes li')].map(li => li.textContent),
                dataset: Object.assign({{}}, card.dataset),
                ranges: [...card.querySelectorAll('.range-select option')].map(o => o.value),
                teams: [...card.querySelectorAll('.team-select option')].map(o => o.value),
                label: canvas.getAttribute('aria-label'),
                painted,
                labels: chart ? chart.data.labels : null,
                datasets: chart ? chart.data.datasets.map(d => ({{label: d.label, data: d.data}})) : null,
            }};
        }})()""")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = self.eval("Math.ceil(document.documentElement.scrollHeight)") or 1000
        self.call("Emulation.setDeviceMetricsOverride", width=1440, height=min(int(height), 6000),
                  deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)  # let the charts resize to the new viewport
        data = self.call("Page.captureScreenshot", format="png")["data"]
        self.call("Emulation.setDeviceMetricsOverride", width=1440, height=1000, deviceScaleFactor=1, mobile=False)
        path = ARTIFACTS / f"dashboard-{name}.png"
        path.write_bytes(base64.b64decode(data))
        assert path.stat().st_size > 10_000
        return path

    def sign_out(self) -> None:
        self.call("Network.clearBrowserCookies")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            self.log.close()


def cli(*args: str) -> str:
    out = subprocess.run([str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), *args],
                         check=True, capture_output=True, text=True, timeout=120, cwd=harness.ROOT)
    return out.stdout


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    work = tmp_path_factory.mktemp("dashboard")
    data = work / "data"
    seeded = cli("seed-demo", "--data-dir", str(data), "--days", "60")
    assert "events stored" in seeded
    # Idempotent: a second run stores nothing new.
    assert ": 0 events stored" in cli("seed-demo", "--data-dir", str(data), "--days", "60")
    doc = yaml.safe_load(CONFIG.read_text())
    doc["budgets"] = [
        {"team_id": "team_support", "amount_usd": "30.00", "period": "monthly"},
        {"team_id": "team_engineering", "amount_usd": "300.00", "period": "monthly"},
    ]
    config = work / "tollgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    tokens = {
        "admin": cli("tokens", "create", "--role", "admin", "--name", "e2e admin", "--data-dir", str(data)).strip(),
        "support": cli("tokens", "create", "--role", "team", "--team", "team_support", "--name", "support lead",
                       "--data-dir", str(data)).strip(),
    }
    assert all(t.startswith("tgk_") for t in tokens.values())
    listed = cli("tokens", "list", "--json", "--data-dir", str(data))
    assert tokens["admin"] not in listed and "support lead" in listed
    proc, addr = harness.start_ledger(work, data, config=config, extra=["--require-tokens"])
    browser = Browser(work)
    try:
        yield {"url": f"http://{addr}", "tokens": tokens, "browser": browser, "work": work}
    finally:
        browser.close()
        proc.stop()


def api(board, path: str, token: str | None = None, **params):
    headers = {"Authorization": f"Bearer {board['tokens'][token]}"} if token else {}
    return requests.get(board["url"] + path, params=params, headers=headers, timeout=30)


def last_days(days: int) -> dict:
    end = datetime.now(timezone.utc).date() + timedelta(days=1)
    return {"from": (end - timedelta(days=days)).isoformat(), "to": end.isoformat()}


def previous_week() -> dict:
    today = datetime.now(timezone.utc).date()
    return {"a_from": (today - timedelta(days=14)).isoformat(), "a_to": (today - timedelta(days=7)).isoformat(),
            "b_from": (today - timedelta(days=7)).isoformat(), "b_to": today.isoformat()}


MONEY = re.compile(r"\$[\d,]+\.\d\d")


def same_words(page: str, api_text: str) -> bool:
    """The same sentence, allowing a cent of difference in amounts: forecasts move with
    the clock between the page's request and the test's."""
    if MONEY.sub("$", page) != MONEY.sub("$", api_text):
        return False
    amounts = lambda t: [float(m[1:].replace(",", "")) for m in MONEY.findall(t)]  # noqa: E731
    return all(abs(a - b) <= 0.011 for a, b in zip(amounts(page), amounts(api_text)))


def close(a: list, b: list) -> bool:
    return len(a) == len(b) and all((x is None and y is None) or (x is not None and y is not None
                                    and abs(x - y) <= 1e-3 * max(1.0, abs(y))) for x, y in zip(a, b))


def dollars(nanos):
    return None if nanos is None else nanos / 1e9


def check_charts(board, team: str | None, token: str) -> dict:
    """Every chart card against the API for the same scope and (default) range."""
    b = board["browser"]
    scope = {"team": team} if team else {}
    r30 = last_days(30)
    cards = {name: b.card(name) for name in (TEAM_CHARTS if team else CHARTS)}
    for name, c in cards.items():
        assert c["state"] == "ready", (name, c["state"], c["say"])
        assert c["painted"] > 2000, f"{name}: the canvas is blank"
        assert c["summary"] and c["say"] == c["summary"] == c["label"], name
        assert len(c["ranges"]) >= 4, f"{name} has no time-range picker"
        assert (team or "") in c["teams"], f"{name} cannot drill into a team"

    budget = api(board, "/v1/insights/budget", token, **scope, **r30).json()
    c = cards["budget"]
    assert same_words(c["summary"], budget["summary"]), (c["summary"], budget["summary"])
    assert same_words(b.eval("document.getElementById('headline').textContent"), budget["summary"])
    assert c["labels"] == budget["days"]
    bars = [d for d in c["datasets"] if d["label"] not in ("Forecast low", "Forecast band")
            and not d["label"].startswith(("Budget", "Forecast", "Spent since"))]
    assert len(bars) == len(budget["daily"])
    shown = sum(v or 0 for d in bars for v in d["data"])
    assert abs(shown - dollars(budget["total_spent_nanos"])) < 1e-6
    if budget["budget"]:
        line = next(d for d in c["datasets"] if d["label"].startswith("Budget"))
        assert dollars(budget["budget"]["amount_nanos"]) in line["data"]
        band = next(d for d in c["datasets"] if d["label"] == "Forecast band")
        assert close(band["data"], [dollars(v) for v in budget["forecast_high"]])
        want = budget["sentences"][1:] if team else budget["sentences"]
        assert len(c["notes"]) == len(want) and all(same_words(x, y) for x, y in zip(c["notes"], want))

    if not team:
        teams = api(board, "/v1/insights/teams", token, **r30).json()
        assert cards["teams"]["summary"] == teams["summary"]
        assert cards["teams"]["labels"] == [t["team"] for t in teams["teams"]]
        assert all(same_words(x, t["summary"]) for x, t in zip(cards["teams"]["notes"], teams["teams"]))

    drivers = api(board, "/v1/insights/drivers", token, **scope, **previous_week()).json()
    c = cards["drivers"]
    assert c["summary"] == drivers["summary"]
    effects = json.loads(c["dataset"]["effects"])
    assert effects == {e["effect"]: e["nanos"] for e in drivers["effects"]}
    assert sum(effects.values()) == drivers["difference_nanos"] == drivers["b"]["cost_nanos"] - drivers["a"]["cost_nanos"]
    bars = c["datasets"][0]["data"]
    assert len(bars) == 8 and bars[0][1] == dollars(drivers["a"]["cost_nanos"]) and bars[-1][1] == dollars(drivers["b"]["cost_nanos"])

    mix = api(board, "/v1/insights/mix", token, **scope, **r30, by="lane", bucket="day").json()
    assert cards["mix"]["summary"] == mix["summary"]
    assert [d["label"] for d in cards["mix"]["datasets"]] == [s["key"] for s in mix["series"]]
    assert cards["mix"]["labels"] == mix["buckets"]

    cache = api(board, "/v1/insights/cache", token, **scope, **r30, bucket="day").json()
    assert cards["cache"]["summary"] == cache["summary"]
    rate = next(d for d in cards["cache"]["datasets"] if d["label"] == "Hit rate")
    want = [None if v is None else v * 100 for v in cache["hit_rate"]]
    assert all((x is None and y is None) or abs(x - y) <= 0.051 for x, y in zip(rate["data"], want))
    assert len(rate["data"]) == len(want)

    premium = api(board, "/v1/insights/premium", token, **scope, **r30, bucket="day").json()
    assert cards["premium"]["summary"] == premium["summary"]

    for name, by in (("users", "user"), ("workflows", "workflow")):
        top = api(board, "/v1/insights/top", token, **scope, **r30, by=by, limit=10).json()
        assert cards[name]["summary"] == top["summary"]
        assert json.loads(cards[name]["dataset"]["keys"]) == [i["key"] for i in top["items"]]
        shown = cards[name]["datasets"][0]["data"]
        assert shown == [dollars(i["cost_nanos"]) for i in top["items"]]
    return {"cards": cards, "budget": budget, "cache": cache, "premium": premium, "mix": mix}


def test_no_token_no_data_while_machine_endpoints_stay_open(board):
    url = board["url"]
    for path in ["/v1/insights/teams", "/v1/insights/budget", "/v1/insights/drivers", "/v1/session",
                 "/v1/spend", "/v1/wallets", "/v1/budgets", "/v1/events", "/v1/export"]:
        r = requests.get(url + path, timeout=10)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
        assert r.json()["error"]["type"] == "authentication_error"
    r = requests.get(url + "/v1/insights/teams", headers={"Authorization": "Bearer tgk_" + "0" * 64}, timeout=10)
    assert r.status_code == 401
    assert requests.get(url + "/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(url + "/openapi.json", timeout=10).status_code == 200
    assert requests.post(url + "/v1/events", json=[], timeout=10).status_code == 200
    lease = requests.post(url + "/v1/leases", json={"instance": "e2e", "team": "team_finance", "want_nanos": 0},
                          timeout=10)
    assert lease.status_code == 200, lease.text

    b = board["browser"]
    b.sign_out()
    b.goto(url + "/")
    b.wait("!document.getElementById('login').hidden")
    assert b.eval("document.getElementById('board').hidden") is True
    b.screenshot("sign-in")


def test_organisation_view_renders_every_chart_with_the_api_numbers(board):
    b = board["browser"]
    b.sign_out()
    b.goto(f"{board['url']}/#token={board['tokens']['admin']}")
    b.wait_charts(CHARTS)
    assert b.eval("location.hash") == "#org", "the token must not stay in the address bar"
    assert b.eval("document.getElementById('scope-title').textContent") == "Organisation"
    got = check_charts(board, None, "admin")
    # The seeded story is there: three teams, premium drift, more than one lane.
    assert len(got["budget"]["daily"]) == 3
    assert "not approved" in got["premium"]["summary"]
    assert {"openai-gpt4o-mini", "anthropic-haiku"} <= {s["key"] for s in got["mix"]["series"]}
    href = b.eval("document.getElementById('export-link').getAttribute('href')")
    assert href.startswith("/v1/export?format=csv")
    b.screenshot("organisation")


def test_drill_into_a_team_from_a_chart(board):
    b = board["browser"]
    b.wait_charts(CHARTS)
    # Drill in with the team picker of one chart card.
    b.eval("""(() => { const s = document.querySelector('[data-chart="premium"] .team-select');
        s.value = 'team_engineering'; s.dispatchEvent(new Event('change')); })()""")
    b.wait("document.body.dataset.scope === 'team_engineering'")
    b.wait_charts(TEAM_CHARTS)
    assert b.eval("document.getElementById('scope-title').textContent") == "Team team_engineering"
    got = check_charts(board, "team_engineering", "admin")
    assert "summarise" in got["premium"]["summary"], got["premium"]["summary"]
    users = json.loads(got["cards"]["users"]["dataset"]["teams"])
    assert users == ["team_engineering"]
    b.screenshot("team-engineering")

    # Each chart has its own range picker: 7 days re-renders that chart only.
    b.eval("""(() => { const s = document.querySelector('[data-chart="cache"] .range-select');
        s.value = '7'; s.dispatchEvent(new Event('change')); })()""")
    b.wait("document.querySelector('[data-chart=\"cache\"]').dataset.state === 'ready' && "
           "window.tollgate.charts.cache.data.labels.length === 7")
    cache7 = api(board, "/v1/insights/cache", "admin", team="team_engineering", **last_days(7), bucket="day").json()
    assert b.card("cache")["summary"] == cache7["summary"]
    # Back to the organisation.
    b.eval("""(() => { const s = document.getElementById('scope-select');
        s.value = ''; s.dispatchEvent(new Event('change')); })()""")
    b.wait("document.body.dataset.scope === 'org'")


def test_a_team_token_sees_only_its_team(board):
    # The API: other teams are 403, lists and spend are confined to the team.
    for path, params in [("/v1/insights/budget", {"team": "team_finance"}),
                         ("/v1/insights/drivers", {"team": "team_engineering"}),
                         ("/v1/insights/top", {"team": "team_engineering"}),
                         ("/v1/spend", {"team": "team_finance"}),
                         ("/v1/wallets/team_engineering", {})]:
        r = api(board, path, "support", **params)
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
    spend = api(board, "/v1/spend", "support", group_by="team").json()
    assert [row["key"]["team"] for row in spend["rows"]] == ["team_support"]
    assert [w["team"] for w in api(board, "/v1/wallets", "support").json()["wallets"]] == ["team_support"]
    assert [t["team"] for t in api(board, "/v1/insights/teams", "support").json()["teams"]] == ["team_support"]
    top = api(board, "/v1/insights/top", "support", by="user").json()
    assert top["items"] and all(i["team"] == "team_support" for i in top["items"])

    # The page: sign in through the form; only the team is offered, even if asked for another.
    b = board["browser"]
    b.sign_out()
    b.goto(board["url"] + "/#team=team_finance")
    b.wait("!document.getElementById('login').hidden")
    b.eval(f"""(() => {{ document.getElementById('token-input').value = {json.dumps(board['tokens']['support'])};
        document.getElementById('login-form').requestSubmit(); }})()""")
    b.wait("document.body.dataset.scope === 'team_support'")
    b.wait_charts(TEAM_CHARTS)
    assert b.eval("[...document.querySelectorAll('#scope-select option')].map(o => o.value)") == ["team_support"]
    assert b.eval("document.getElementById('scope-select').disabled") is True
    got = check_charts(board, "team_support", "support")
    for name in TEAM_CHARTS:
        assert got["cards"][name]["teams"] == ["team_support"], name
    page_text = b.eval("document.body.innerText")
    for other in ("team_finance", "team_engineering", "eng.example", "fin.example"):
        assert other not in page_text, f"the support page shows {other}"
    # The seeded cache regression, in words.
    assert got["cache"]["summary"].startswith("Cache hit rate fell from"), got["cache"]["summary"]
    b.screenshot("team-support")


def test_the_demo_history_shows_each_recommended_move(board):
    r = api(board, "/v1/insights/recommendations", "admin")
    assert r.status_code == 200, r.text
    moves = r.json()["moves"]
    kinds = {(m["kind"], m["team"]) for m in moves}
    assert ("restrict_premium", "team_engineering") in kinds, moves
    assert ("request_allocation", "team_support") in kinds, moves
    assert ("revise_budget", "team_support") in kinds, moves
    for m in moves:
        assert MONEY.search(m["sentence"]) and m["impact_nanos"] > 0
        assert m["action"]["method"] == "POST" and m["action"]["path"].startswith(f"/v1/teams/{m['team']}/")
    mine = api(board, "/v1/insights/recommendations", "support").json()["moves"]
    assert mine and {m["team"] for m in mine} == {"team_support"}
