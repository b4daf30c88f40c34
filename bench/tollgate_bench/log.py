"""Progress lines on stdout, each stamped with the wall-clock time."""

from __future__ import annotations

import time


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)
