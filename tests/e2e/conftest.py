import sys
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import stack as harness  # noqa: E402

CONFIG = harness.ROOT / "examples" / "tollgate.yaml"

KEYS = {
    "support": "kt_cg_support_prod",
    "engineering": "kt_cg_engineering_prod",
    "finance": "kt_cg_finance_prod",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    s = harness.start_stack(CONFIG, tmp_path_factory.mktemp("stack"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def board(tmp_path_factory):
    """The dashboard's ledger and browser (see dashboard_board.py), shared by the
    dashboard test modules."""
    import dashboard_board

    work = tmp_path_factory.mktemp("dashboard")
    b = dashboard_board.build(work, CONFIG)
    try:
        yield b
    finally:
        b["browser"].close()
        b["proc"].stop()


@pytest.fixture(scope="session")
def prices():
    """Prices from the demo config, as integer micro-dollars per million tokens."""
    doc = yaml.safe_load(CONFIG.read_text())

    def micro(v):
        return int(Decimal(str(v)) * 1_000_000)

    table = {}
    for model, p in doc["pricing"].items():
        table[model] = {
            "input": micro(p["input"]),
            "cached_input": micro(p.get("cached_input", p["input"])),
            "cache_write": micro(p.get("cache_write", p["input"])),
            "output": micro(p["output"]),
        }
    return table


def expected_cost_nanos(price: dict, tokens: dict) -> int:
    """tokens × picodollars per token, summed, rounded half up to nanodollars."""
    picos = sum(tokens[k] * price[k] for k in ("input", "cached_input", "cache_write", "output"))
    return (picos + 500) // 1000


class GetWeather(BaseModel):
    """A tool for the tool-call tests: current weather for a city."""

    city: str
    unit: Literal["celsius", "fahrenheit"]


class Day(BaseModel):
    """Part of the structured-output tests' forecast schemas."""

    summary: str
    high: float


# The weather tool of the tool-call tests, as JSON schema and in each client format.
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
# What the simulator's model answers for the schemas above: a minimal valid instance.
WEATHER_ARGS = {"city": "sim", "unit": "celsius"}
OPENAI_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.", "parameters": WEATHER_SCHEMA}}]
ANTHROPIC_TOOLS = [
    {"name": "get_time", "description": "The time in a city.",
     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"name": "get_weather", "description": "Current weather for a city.", "input_schema": WEATHER_SCHEMA},
]
