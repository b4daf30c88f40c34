"""The dashboard page's paint times in a real browser (Debian's Chromium, headless, over
the DevTools protocol): for each view, a fresh navigation to the page, then the times
from the navigation's start to the page's own marks, `tollgate:first-card` (the first
card drew its numbers: the first meaningful paint) and `tollgate:cards-ready` (every
card of the view drew)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from .log import log
from .processes import ROOT  # noqa: F401  (puts tests/harness on sys.path)

import browser as harness_browser  # noqa: E402

MARKS = ("tollgate:first-card", "tollgate:cards-ready")

# What the page reads back from the Performance API: each mark's time since the
# navigation started (ms), or null while it has not happened.
READ_MARKS = (
    "JSON.stringify(Object.fromEntries(" + repr(list(MARKS)) +
    ".map((m) => [m, (performance.getEntriesByName(m)[0] || {}).startTime ?? null])))"
)


def views(team: str) -> list[tuple[str, str]]:
    """The views timed: the organisation board, one team's board, the review report."""
    return [
        ("organisation board, 30 days", "#scope=org&range=30d"),
        (f"{team} board, 30 days", f"#scope={team}&range=30d"),
        ("organisation board, month to date", "#scope=org&range=mtd"),
        (f"{team} review report, 30 days", f"#scope={team}&range=30d&view=report"),
    ]


def time_views(addr: str, token: str, work: Path, *, team: str, samples: int) -> list[dict]:
    """Median and worst first-card and all-cards times per view, over `samples` fresh loads
    (after one unrecorded load that warms the ledger's and the browser's caches)."""
    out = []
    b = harness_browser.Browser(work)
    try:
        # Sign in once, as a user does with a link; the session cookie serves every load after it.
        b.goto(f"http://{addr}/#token={token}")
        b.wait("document.body.dataset.ready")
        for label, fragment in views(team):
            firsts, readies = [], []
            for i in range(samples + 1):
                b.goto(f"http://{addr}/{fragment}")
                b.wait("document.body.dataset.ready", timeout=120)
                marks = json.loads(b.eval(READ_MARKS))
                if i == 0:
                    continue  # warm-up
                firsts.append(marks[MARKS[0]])
                readies.append(marks[MARKS[1]])
            r = {"view": label, "fragment": fragment, "samples": samples,
                 "first_card_p50_ms": statistics.median(firsts), "first_card_max_ms": max(firsts),
                 "cards_ready_p50_ms": statistics.median(readies), "cards_ready_max_ms": max(readies),
                 "cards": b.eval("document.querySelectorAll('#grid article').length")}
            failed = b.eval("[...document.querySelectorAll('#grid article[data-state=error]')].map((a) => a.textContent.slice(0, 120))")
            if failed:
                raise RuntimeError(f"{label}: cards failed to load: {failed}")
            out.append(r)
            log(f"c. page {label:40s} first card p50 {r['first_card_p50_ms']:7.1f} ms (max {r['first_card_max_ms']:.1f}); "
                f"all {r['cards']} cards p50 {r['cards_ready_p50_ms']:7.1f} ms (max {r['cards_ready_max_ms']:.1f})")
        if b.errors:
            raise RuntimeError(f"the page raised errors: {b.errors[:3]}")
    finally:
        b.close()
    return out
