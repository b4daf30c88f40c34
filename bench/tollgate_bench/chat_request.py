"""The chat request every Envoy variant is driven with (about 1 KB, OpenAI format) and
the team key it carries (a key of examples/tollgate.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

TEAM_KEY = "kt_cg_support_prod"


def chat_body(unique: bool, max_tokens: int = 64) -> str:
    """An OpenAI chat request of about 1 KB (a typical chat request). `unique`: keeps the
    `__N__` slot that bench/chat.lua replaces with a counter (a distinct body per request).
    `max_tokens`: the simulator's answer has at most that many words."""
    system = ("You are the support assistant of a company selling industrial sensors. Answer "
              "briefly, cite the relevant manual section when you can, and never promise delivery "
              "dates. If the customer is angry, apologise once and move on to the fix.")
    user = ("Ticket __N__: Our temperature sensor model TS-4410 reports values that drift by about "
            "two degrees per hour after a firmware update to version 3.2.1. The drift starts roughly "
            "ten minutes after power-on and stops after about six hours. We have eighteen units on "
            "the same line and all show the same behaviour; units still on 3.1.9 are fine. We "
            "already tried a factory reset and recalibration with the reference probe, without any "
            "change. Is this a known issue, is there a fix or a rollback procedure, and can we keep "
            "the line running meanwhile? Please reply with clear steps for the night shift.")
    if not unique:
        user = user.replace("__N__", "000000")
    body = {
        "model": "gpt-5.4-mini-mini",
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    return json.dumps(body)


def write_bodies(work: Path, *, max_tokens: int = 64, suffix: str = "") -> tuple[Path, Path]:
    """Writes the two body files wrk sends: (the same body every time, a distinct one per request)."""
    fixed = work / f"body-fixed{suffix}.json"
    fixed.write_text(chat_body(unique=False, max_tokens=max_tokens))
    unique = work / f"body-unique{suffix}.json"
    unique.write_text(chat_body(unique=True, max_tokens=max_tokens))
    return fixed, unique
