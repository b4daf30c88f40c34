"""Debian packages the tests need, installed with apt-get when missing.

    python3 tests/harness/debian.py ensure chromium   # no-op when `chromium` is on PATH

Standard library only, so `python3` is enough. Installing needs root; without it the
error says which command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise PermissionError(f"`{package}` is not installed and installing it needs root: "
                              f"sudo apt-get install -y {package}")
    print(f"test harness: installing {package} with apt-get", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                   check=True, env=env)


def ensure_command(command: str, package: str | None = None) -> None:
    """Installs `package` (default: the command's name) unless `command` is on PATH."""
    if shutil.which(command) is None:
        apt_install(package or command)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "ensure":
        sys.exit("usage: debian.py ensure COMMAND")
    ensure_command(sys.argv[2])
