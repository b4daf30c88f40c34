"""A throwaway PostgreSQL server for tests: Debian's binaries, a temporary directory,
a free loopback port, stopped (by pg_ctl, else by its PID) when done.

    with PostgresServer() as pg:
        url = pg.create_database("ledger")      # postgres://tollgate@127.0.0.1:PORT/ledger

From the command line (standard library only, so `python3` is enough):

    python3 tests/harness/postgres.py run -- cargo test --workspace
        starts a server, runs the command with TOLLGATE_TEST_PG_URL set to a fresh
        database on it, stops the server, exits with the command's status.
    python3 tests/harness/postgres.py start DIR   /   stop DIR
        for a server kept across commands (prints the URL; DIR/url holds it too).

Installs the `postgresql` package with apt-get if no server binaries are found. initdb
refuses to run as root, so as root the server runs as the `postgres` system user (or a
`tollgate-pg` user created for the purpose); the temporary directory is given to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from debian import apt_install  # noqa: E402

SUPERUSER = "tollgate"


def _version_key(path: str) -> tuple:
    m = re.search(r"/postgresql/([\d.]+)/bin/", path)
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def find_bin_dir(install: bool = True) -> Path:
    """The newest /usr/lib/postgresql/*/bin with initdb and pg_ctl; installs Debian's
    `postgresql` package first if there is none (and `install`)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if not found and install:
        apt_install("postgresql")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if not found:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; "
            "install Debian's `postgresql` package")
    return Path(found[-1]).parent


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "tollgate-pg"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "tollgate-pg"], check=True)
    return pwd.getpwnam("tollgate-pg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, root: Path | None = None, *, log=sys.stderr):
        self.bin = find_bin_dir()
        self.user = _server_user()
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="tollgate-pg-"))
        self._own_root = root is None
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log_path = self.root / "postgres.log"
        self.port: int | None = None
        self.log = log

    # -- processes -------------------------------------------------------------------

    def _as_server_user(self, argv: list, **kw) -> subprocess.CompletedProcess:
        if self.user is not None:
            kw.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        env = dict(os.environ, LC_ALL="C", LANG="C")
        if self.user is not None:
            env["HOME"] = str(self.root)
        return subprocess.run([str(a) for a in argv], env=env, cwd=self.root, **kw)

    def start(self) -> str:
        """initdb and start the server; returns the URL of its `postgres` database."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self.user is not None:
            for p in (self.root, self.sockets):
                os.chown(p, self.user.pw_uid, self.user.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            r = self._as_server_user(
                [self.bin / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{r.stdout}")
        last_error = ""
        for _ in range(3):  # a free port can be taken between choosing and binding
            port = free_port()
            options = (f"-p {port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                       # Throwaway data: no fsync. Room for several ledgers' pools.
                       "-c fsync=off -c full_page_writes=off -c max_connections=300")
            r = self._as_server_user(
                [self.bin / "pg_ctl", "-D", self.data, "-l", self.log_path, "-o", options,
                 "-w", "-t", "60", "start"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode == 0:
                self.port = port
                (self.root / "url").write_text(self.url("postgres") + "\n")
                print(f"postgres harness: server on 127.0.0.1:{port}, data in {self.data}",
                      file=self.log)
                return self.url("postgres")
            last_error = r.stdout + self.log_tail()
        raise RuntimeError(f"PostgreSQL did not start:\n{last_error}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            r = self._as_server_user(
                [self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                self._kill_postmaster()
        self.port = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the postmaster and backends
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------

    def url(self, database: str) -> str:
        assert self.port is not None, "server not started"
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, database: str, sql: str) -> str:
        r = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {r.stderr}")
        return r.stdout.strip()

    def create_database(self, name: str, icu_locale: str | None = "en-US") -> str:
        """Creates a database; by default with an ICU `en-US` collation, whose text
        order differs from byte order, so tests show the ledger does not depend on
        the server's collation. Falls back to the server default without ICU."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        if icu_locale:
            try:
                self.psql("postgres", f"CREATE DATABASE {name} TEMPLATE template0 ENCODING UTF8 "
                                      f"LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'")
                return self.url(name)
            except RuntimeError as e:
                print(f"postgres harness: no ICU collation ({e}); using the default", file=self.log)
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)


def _main(argv: list[str]) -> int:
    usage = "usage: postgres.py run -- COMMAND... | start DIR | stop DIR"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "run":
        command = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if not command:
            print(usage, file=sys.stderr)
            return 2
        server = PostgresServer()
        # A signal still stops the server: turn SIGTERM into an exception.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            server.start()
            url = server.create_database("tollgate_test")
            env = dict(os.environ, TOLLGATE_TEST_PG_URL=url)
            print(f"postgres harness: TOLLGATE_TEST_PG_URL={url}", file=sys.stderr)
            return subprocess.run(command, env=env).returncode
        finally:
            server.stop()
    if argv[0] in ("start", "stop") and len(argv) == 2:
        server = PostgresServer(Path(argv[1]).resolve())
        if argv[0] == "start":
            server.start()
            url = server.create_database("tollgate_test")
            (server.root / "url").write_text(url + "\n")
            print(url)
        else:
            server.stop()
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
