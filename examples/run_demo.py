"""`make run`: the whole Tollgate path on this machine, on embedded defaults.

Starts the provider simulator (:9000), the ledger (:8080, SQLite in ./data) and the real
Envoy with the Tollgate filter (:10000, admin :9901), sends a little traffic from three
teams with the official SDKs, prints where to look, and stops everything on Ctrl-C.
"""

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "harness"))

import anthropic  # noqa: E402
import openai  # noqa: E402
import stack as harness  # noqa: E402

TEAMS = [
    ("support", "kt_cg_support_prod", "ticket-triage"),
    ("engineering", "kt_cg_engineering_prod", "code-review"),
    ("finance", "kt_cg_finance_prod", "month-end-close"),
]


def demo_traffic(stack: harness.Stack) -> None:
    for name, key, workflow in TEAMS:
        headers = {"x-tollgate-workflow": workflow}
        oai = openai.OpenAI(base_url=stack.openai_base_url, api_key=key, max_retries=0)
        ant = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=key, max_retries=0)
        for i in range(3):
            oai.chat.completions.create(
                model="gpt-4o-mini", user=f"{name}-user-{i}", extra_headers=headers,
                messages=[{"role": "user", "content": f"Demo question {i} from {name}"}])
        for chunk in oai.chat.completions.create(
                model="gpt-4o-mini", stream=True, extra_headers=headers,
                messages=[{"role": "user", "content": f"A streamed answer for {name}"}]):
            pass
        ant.messages.create(
            model="claude-haiku", max_tokens=64, extra_headers=headers,
            messages=[{"role": "user", "content": f"An Anthropic question from {name}"}])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "examples" / "tollgate.yaml"))
    args = parser.parse_args()

    work = ROOT / "out" / "run"
    ledger_bin = str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger"))
    print("Seeding ~60 days of demo history into ./data (idempotent) ...", flush=True)
    subprocess.run([ledger_bin, "seed-demo", "--data-dir", str(ROOT / "data")], check=True,
                   stdout=subprocess.DEVNULL)
    print("Starting simulator, ledger and Envoy ...", flush=True)
    stack = harness.start_stack(Path(args.config).resolve(), work, fixed_ports=True, data_dir=ROOT / "data")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        demo_traffic(stack)
        time.sleep(1.0)  # let the flusher deliver the demo events
        spend = stack.ledger_get("/v1/spend", group_by="team", **{"from": int(time.time() * 1000) - 3_600_000})
        # Made by the harness for this run; reads need a token (the ledger's default).
        token = stack.admin_token
        print()
        print("Tollgate is up.")
        print(f"  Dashboard:           http://{stack.ledger}/#token={token}  (admin token, shown once)")
        print(f"  Ledger API (OpenAPI): http://{stack.ledger}/openapi.json")
        print(f"  Spend by team:       curl -s -H 'Authorization: Bearer {token}' "
              f"'http://{stack.ledger}/v1/spend?group_by=team'")
        print(f"  Envoy (clients):     http://{stack.envoy}/v1  (OpenAI SDK base_url)")
        print(f"  Envoy admin:         http://{stack.envoy_admin}/stats?filter=tollgate")
        print(f"  Logs:                {work}")
        print()
        print("Spend in the last hour (demo traffic):")
        for row in spend["rows"]:
            print(f"  {row['key']['team']:<18} {row['requests']:>4} requests  ${row['cost_usd']}")
        print()
        print("Try it:")
        print(f"  python -c \"import openai; c = openai.OpenAI(base_url='http://{stack.envoy}/v1', "
              "api_key='kt_cg_support_prod'); print(c.chat.completions.create(model='gpt-4o-mini', "
              "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content)\"")
        print(f"  curl -s -H 'Authorization: Bearer {token}' "
              f"'http://{stack.ledger}/v1/spend?group_by=team,model' | python -m json.tool")
        print()
        print("Ctrl-C stops everything.", flush=True)
        while not stop["now"]:
            for proc in stack.procs.values():
                if proc.popen.poll() is not None:
                    print(f"{proc.name} exited unexpectedly:\n{proc.log_tail()}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping: draining Envoy so every charge reaches the ledger ...", flush=True)
        stack.stop(graceful=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
