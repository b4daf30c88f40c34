"""The operator commands on real inputs: check-config reports every problem with file,
path and expectation; render-envoy writes bootstraps the real Envoy accepts."""

import os
import subprocess

import yaml

import stack as harness
from conftest import CONFIG

LEDGER = str(harness.binary("TOLLGATE_LEDGER_BIN", "tollgate-ledger"))
SEED = harness.ROOT / "examples" / "seed-config.yaml"


def run(*args):
    return subprocess.run([LEDGER, *args], capture_output=True, text=True, cwd=harness.ROOT)


def test_seed_and_demo_configs_load():
    for path in (SEED, CONFIG):
        r = run("check-config", str(path))
        assert r.returncode == 0, r.stderr
        assert f"{path}: ok" in r.stdout


def test_check_config_names_file_path_and_expectation(tmp_path):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["consumer_groups"][1]["wallet_team_id"] = "team_nobody"
    doc["providers"]["targets"][1]["id"] = doc["providers"]["targets"][0]["id"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = run("check-config", str(bad))
    assert r.returncode == 1
    assert f"{bad}: at `providers.targets[1].id`: duplicate target id" in r.stderr
    assert f"{bad}: at `consumer_groups[1].wallet_team_id`: wallet 'team_nobody' has no definition" in r.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text(SEED.read_text().replace("ttl_seconds", "ttl_secs"))
    r = run("check-config", str(typo))
    assert r.returncode == 1 and "at `cache.ttl_secs`" in r.stderr and "unknown field `ttl_secs`" in r.stderr
    assert "expected one of" in r.stderr and "line 22" in r.stderr


def test_rendered_bootstrap_for_public_providers_is_valid_envoy_config(tmp_path):
    out = tmp_path / "envoy.yaml"
    r = run("render-envoy", str(CONFIG), "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "kt_cg_support_prod" not in text, "keys appear only as digests"
    assert "sni: api.openai.com" in text and "sni: api.anthropic.com" in text
    env = dict(os.environ, OPENAI_API_KEY="x", ANTHROPIC_API_KEY="y")
    v = subprocess.run([harness.envoy_binary(), "--mode", "validate", "-c", str(out)],
                       capture_output=True, text=True, env=env)
    assert v.returncode == 0 and "OK" in v.stdout + v.stderr, v.stderr[-2000:]
