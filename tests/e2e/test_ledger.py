"""The ledger binary on its own: `tollgate-ledger serve` on a free port with a fresh data
directory, driven over HTTP.

Binary: $TOLLGATE_LEDGER_BIN, else target/release/tollgate-ledger (`make build`).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

import stack as harness

ROOT = Path(__file__).resolve().parents[2]
H0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
HOUR = 3_600_000
DAY = 24 * HOUR


def ledger_bin() -> Path:
    # The same binary every other end-to-end test uses (target/release unless overridden).
    return harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")


class Ledger:
    """One ledger process; stopped by its PID."""

    def __init__(self, data_dir: Path, log_path: Path):
        self.log_path = log_path
        # Reads need a token: an admin one, made on the store before the ledger starts.
        self.admin = harness.create_token("admin", data_dir=data_dir)
        self.proc = subprocess.Popen(
            [str(ledger_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
             "--ingest-token-file", str(harness.ingest_token_file())],
            stdout=subprocess.PIPE,
            stderr=open(log_path, "ab"),
        )
        self.addr = self._read_address(timeout=20.0)
        self.base = f"http://{self.addr}"

    def _read_address(self, timeout: float) -> str:
        marker = "tollgate-ledger listening on http://"
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.2):
                if self.proc.poll() is not None:
                    break
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines(keepends=True):
                if line.startswith(marker) and line.endswith("\n"):
                    return line[len(marker):].strip()
        self.kill()
        raise RuntimeError(f"ledger did not announce its address; stdout={buf!r}\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(self, events, expect: int = 200) -> dict:
        r = requests.post(f"{self.base}/v1/events", json=events, headers=harness.ingest_headers(), timeout=10)
        assert r.status_code == expect, r.text
        return r.json()

    def get(self, path: str, expect: int = 200, **params) -> dict:
        r = requests.get(f"{self.base}{path}", params=params, headers=harness.bearer(self.admin), timeout=10)
        assert r.status_code == expect, r.text
        assert r.headers["content-type"].startswith("application/json")
        return r.json()

    def stop(self) -> int:
        """SIGTERM by PID; the ledger must shut down cleanly."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def ledger(tmp_path, data_dir):
    led = Ledger(data_dir, tmp_path / "ledger.log")
    yield led
    led.kill()


def event(id_, ts_ms, team, cost_nanos, model="gpt-4o-mini", **extra):
    e = {
        "id": id_,
        "ts_ms": ts_ms,
        "consumer_group": team.removeprefix("team_"),
        "team": team,
        "api": "chat_completions",
        "provider": "openai",
        "lane": "openai-gpt4o-mini",
        "model_requested": model,
        "model_served": model,
        "tokens": {"input": 100, "cached_input": 0, "cache_write": 0, "output": 50},
        "usage_source": "reported",
        "cost_nanos": cost_nanos,
        "outcome": "ok",
        "http_status": 200,
        "latency_ms": 42,
        "stream": False,
        "cache": "miss",
    }
    e.update(extra)
    return e


BATCH = [
    event("e2e-1", H0 + 60_000, "team_support", 45_000),
    event("e2e-2", H0 + 2 * HOUR, "team_support", 30_000, model="claude-haiku"),
    event("e2e-3", H0 + DAY, "team_finance", 120_000),
]
RANGE = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:00Z"}


def test_announces_a_real_port_and_is_healthy(ledger):
    host, port = ledger.addr.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert ledger.get("/healthz") == {"status": "ok"}
    assert ledger.get("/openapi.json")["openapi"].startswith("3.1")


def test_batch_posted_twice_is_counted_once(ledger):
    assert ledger.post(BATCH) == {"accepted": 3, "duplicates": 0, "rejected": [], "quarantined": []}
    first = ledger.get("/v1/spend", group_by="team", **RANGE)
    assert ledger.post(BATCH) == {"accepted": 0, "duplicates": 3, "rejected": [], "quarantined": []}
    again = ledger.get("/v1/spend", group_by="team", **RANGE)
    assert again == first

    assert first["from"] == H0 and first["to"] == H0 + 2 * DAY
    assert [(r["key"]["team"], r["requests"], r["cost_nanos"], r["cost_usd"]) for r in first["rows"]] == [
        ("team_finance", 1, 120_000, "0.00012"),
        ("team_support", 2, 75_000, "0.000075"),
    ]
    assert first["total"]["cost_nanos"] == 195_000
    assert first["total"]["tokens"] == {"input": 300, "cached_input": 0, "cache_write": 0, "output": 150}

    by_model = ledger.get("/v1/spend", group_by="model,day", team="team_support", **RANGE)
    assert [(r["key"], r["cost_nanos"]) for r in by_model["rows"]] == [
        ({"model": "gpt-4o-mini", "day": "2026-11-01"}, 45_000),
        ({"model": "claude-haiku", "day": "2026-11-01"}, 30_000),
    ]

    events = ledger.get("/v1/events", team="team_support", limit=10)["events"]
    assert [e["id"] for e in events] == ["e2e-2", "e2e-1"]
    # Fields the sender left to their defaults come back explicit.
    defaults = {"unpriced": False, "cost_avoided_nanos": 0, "premium": False, "premium_approved": False}
    assert events[1] == {**defaults, **BATCH[0]}


def test_poison_event_is_quarantined_and_the_rest_stored(ledger):
    poison = {"id": "bad", "ts_ms": H0, "team": "team_support"}  # most fields missing
    resp = ledger.post([BATCH[0], poison, BATCH[1]])
    assert resp["accepted"] == 2
    assert [r["index"] for r in resp["rejected"]] == [1]
    assert "missing field" in resp["rejected"][0]["error"]
    quarantined = ledger.get("/v1/rejected-events")["rejected_events"]
    assert len(quarantined) == 1 and quarantined[0]["index"] == 1
    assert "missing field" in quarantined[0]["error"]
    assert ledger.get("/v1/spend", **RANGE)["total"]["cost_nanos"] == 75_000


def test_errors_are_json_400s(ledger):
    err = ledger.get("/v1/spend", expect=400, group_by="team,planet")["error"]
    assert err["type"] == "invalid_request_error" and "planet" in err["message"]
    err = ledger.get("/v1/spend", expect=400, **{"from": "tomorrow"})["error"]
    assert "'from'" in err["message"]
    r = requests.post(f"{ledger.base}/v1/events", data=b'{"not": "an array"}', headers=harness.ingest_headers(),
                      timeout=10)
    assert r.status_code == 400 and "JSON array" in r.json()["error"]["message"]


def test_data_survives_a_restart(tmp_path, data_dir):
    first = Ledger(data_dir, tmp_path / "ledger.log")
    try:
        first.post(BATCH)
        assert first.stop() == 0, first.log()
    finally:
        first.kill()
    assert (data_dir / "ledger.sqlite3").exists()
    second = Ledger(data_dir, tmp_path / "ledger.log")
    try:
        assert second.get("/v1/spend", **RANGE)["total"]["cost_nanos"] == 195_000
        assert second.post(BATCH)["duplicates"] == 3
    finally:
        second.kill()
