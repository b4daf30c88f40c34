"""Every example manifest is valid against its schema, generated examples are up to
date, the Envoy configuration inside them is accepted by the real Envoy, and the OCI
image of the filter has the layout and digests Istio and Envoy Gateway expect.

* Kubernetes kinds: the official JSON schemas shipped by `kubernetes-validate`, strict
  (unknown fields are errors), for the newest Kubernetes version it knows.
* Istio, Envoy Gateway and Gateway API kinds: the CRDs' own `openAPIV3Schema`, vendored
  in examples/schemas/ (see PROVENANCE.md), checked with `jsonschema` as strictly as
  `kubectl apply --validate=strict`: unknown fields are errors unless the CRD preserves
  them. CRD CEL rules are not evaluated by jsonschema; the ones these manifests could
  break are re-stated below as predicates.
"""

import copy
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

import stack as harness

ROOT = harness.ROOT
EXAMPLES = ROOT / "examples"
SCHEMAS = EXAMPLES / "schemas"
MANIFEST_DIRS = ["k8s", "istio", "envoy-gateway"]
K8S_VERSION = kubernetes_validate.latest_version()
WASM = Path(os.environ.get("TOLLGATE_WASM", ROOT / "target/wasm32-wasip1/release/tollgate_filter.wasm"))
WASM_IN_POD = "/etc/tollgate/wasm/plugin.wasm"


def manifests():
    for d in MANIFEST_DIRS:
        for path in sorted((EXAMPLES / d).rglob("*.yaml")):
            for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
                if doc:
                    yield pytest.param(doc, id=f"{path.relative_to(EXAMPLES)}#{i}:{doc.get('kind')}")


# ---- CRD schema → JSON Schema ----------------------------------------------------------

def strict_schema(node):
    """A CRD structural schema as JSON Schema, rejecting unknown fields like the API
    server does with strict field validation."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict_schema(s) for name, s in value.items()}
        elif key in ("items", "not"):
            out[key] = strict_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_schema(s) for s in value]
        elif key == "additionalProperties":
            out[key] = strict_schema(value) if isinstance(value, dict) else value
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_schemas():
    found = {}
    for path in SCHEMAS.glob("*.json"):
        d = json.loads(path.read_text())
        schema = strict_schema(d["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"type": "object", "required": ["name"]}
        schema["additionalProperties"] = False
        found[(f"{d['group']}/{d['version']}", d["kind"])] = schema
    return found


CRDS = crd_schemas()


def cel_rules(doc):
    """The CEL validations of the vendored CRDs that these manifests could violate."""
    kind, spec = doc["kind"], doc.get("spec", {})
    errors = []
    if kind == "WasmPlugin":
        if sum(k in spec for k in ("selector", "targetRef", "targetRefs")) > 1:
            errors.append("only one of targetRefs or selector can be set")
        if not spec["url"].split("://")[0] in ("oci", "http", "https", "file") and "://" in spec["url"]:
            errors.append("url must have schema one of [http, https, file, oci]")
        for env in spec.get("vmConfig", {}).get("env", []):
            if env.get("valueFrom") == "HOST" and "value" in env:
                errors.append("value may only be set when valueFrom is INLINE")
    if kind == "EnvoyExtensionPolicy":
        if ("targetRef" in spec) == ("targetRefs" in spec):
            errors.append("either targetRef or targetRefs must be used")
        for ref in spec.get("targetRefs", []):
            if ref["group"] != "gateway.networking.k8s.io":
                errors.append("targetRefs group must be gateway.networking.k8s.io")
        for w in spec.get("wasm", []):
            t = w["code"]["type"]
            if (t == "Image") != ("image" in w["code"]) or (t == "HTTP") != ("http" in w["code"]):
                errors.append("code.type must match the code source set")
    if kind == "EnvoyProxy":
        b = spec.get("bootstrap")
        if b and (b.get("type", "Replace") == "JSONPatch") != ("jsonPatches" in b):
            errors.append("bootstrap patch doesn't match the configured patch type")
        if b and b.get("type", "Replace") != "JSONPatch" and "value" not in b:
            errors.append("bootstrap patch doesn't match the configured patch type")
    if kind == "HTTPRouteFilter":
        body = spec.get("directResponse", {}).get("body", {})
        if body and body.get("type", "Inline") == "Inline" and "inline" not in body:
            errors.append("inline must be set for type Inline")
    return errors


@pytest.mark.parametrize("doc", list(manifests()))
def test_manifest_matches_its_schema(doc):
    key = (doc["apiVersion"], doc["kind"])
    if key in CRDS:
        jsonschema.validate(doc, CRDS[key], cls=jsonschema.Draft7Validator)
        assert cel_rules(doc) == []
    else:
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        assert "." not in group or group.endswith(".k8s.io") and not group.startswith("gateway."), \
            f"no schema vendored for {key}: add it to examples/schemas/vendor.py"
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strictness_catches_a_typo():
    """The validators above really reject what the API server would."""
    docs = list(yaml.safe_load_all((EXAMPLES / "istio/envoyfilter.generated.yaml").read_text()))
    bad = copy.deepcopy(docs[0])
    bad["spec"]["workloadSelectr"] = bad["spec"].pop("workloadSelector")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CRDS[(bad["apiVersion"], bad["kind"])])
    dep = copy.deepcopy(next(d for d in yaml.safe_load_all((EXAMPLES / "k8s/envoy.yaml").read_text())
                             if d["kind"] == "Deployment"))
    dep["spec"]["template"]["spec"]["containers"][0]["envfrom"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def test_generated_examples_are_up_to_date():
    r = subprocess.run([sys.executable, str(EXAMPLES / "generate_manifests.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_every_manifest_is_in_a_validated_directory():
    """No example Kubernetes manifest lives outside the directories validated above."""
    for path in EXAMPLES.rglob("*.yaml"):
        rel = path.relative_to(EXAMPLES)
        if rel.parts[0] in MANIFEST_DIRS:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc), rel


# ---- the Envoy configuration inside the examples, on the real Envoy ---------------------

def envoy_validate(bootstrap: dict, tmp_path, name: str):
    text = json.dumps(bootstrap).replace(WASM_IN_POD, str(WASM))
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    env = dict(os.environ, OPENAI_API_KEY="x", ANTHROPIC_API_KEY="y")
    v = subprocess.run([harness.envoy_binary(), "--mode", "validate", "-c", str(path)],
                       capture_output=True, text=True, env=env)
    assert v.returncode == 0 and "OK" in v.stdout + v.stderr, f"{name}: {v.stderr[-3000:]}"


def configmaps(path):
    return {d["metadata"]["name"]: d["data"] for d in yaml.safe_load_all(path.read_text()) if d}


def test_plain_bootstrap_is_valid_envoy_config(tmp_path):
    boot = yaml.safe_load((ROOT / "envoy/tollgate-envoy.yaml").read_text())
    assert boot["stats_config"]["stats_tags"], "labels for the filter's counters"
    envoy_validate(boot, tmp_path, "plain")


@pytest.mark.parametrize("path,prefix", [("k8s/envoy-config.generated.yaml", "tollgate-envoy"),
                                         ("k8s/sidecar/envoy-config.generated.yaml", "tollgate-gateway")])
def test_kubernetes_bootstrap_and_xds_files_are_valid_envoy_config(tmp_path, path, prefix):
    cms = configmaps(EXAMPLES / path)
    boot = yaml.safe_load(cms[f"{prefix}-bootstrap"]["envoy.yaml"])
    assert boot["dynamic_resources"]["lds_config"]["path_config_source"]["path"] == "/etc/tollgate/xds/lds.yaml"
    # The watched files, put back in place as static resources, make a valid whole.
    strip = lambda r: {k: v for k, v in r.items() if k != "@type"}  # noqa: E731
    lds = yaml.safe_load(cms[f"{prefix}-xds"]["lds.yaml"])["resources"]
    cds = yaml.safe_load(cms[f"{prefix}-xds"]["cds.yaml"])["resources"]
    assert {r["name"] for r in lds} == {"tollgate", "tollgate_metrics"}
    whole = {k: v for k, v in boot.items() if k != "dynamic_resources"}
    whole["static_resources"] = {"listeners": [strip(r) for r in lds], "clusters": [strip(r) for r in cds]}
    envoy_validate(whole, tmp_path, prefix)


def http_filter_bootstrap(wasm_config: dict, extra: dict | None = None) -> dict:
    """A minimal Envoy bootstrap running one Wasm HTTP filter config, as a control plane
    would deliver it, with the module loaded from the local build."""
    wasm_config = copy.deepcopy(wasm_config)
    wasm_config["vm_config"]["code"] = {"local": {"filename": WASM_IN_POD}}
    boot = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                           "filter_chains": [{"filters": [{
                               "name": "envoy.filters.network.http_connection_manager",
                               "typed_config": {
                                   "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                   "stat_prefix": "t", "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": []}]},
                                   "http_filters": [
                                       {"name": "tollgate", "typed_config": {
                                           "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                           "config": wasm_config}},
                                       {"name": "envoy.filters.http.router", "typed_config": {
                                           "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}],
            "clusters": []}}
    boot.update(extra or {})
    return boot


def test_istio_envoyfilter_and_bootstrap_override_are_valid_envoy_config(tmp_path):
    ef = next(yaml.safe_load_all((EXAMPLES / "istio/envoyfilter.generated.yaml").read_text()))
    ext = next(p for p in ef["spec"]["configPatches"] if p["applyTo"] == "EXTENSION_CONFIG")
    typed = ext["patch"]["value"]["typed_config"]
    assert typed["type_url"] == "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    config = typed["value"]["config"]
    assert config["allow_on_headers_stop_iteration"] is True
    assert config["vm_config"]["code"]["remote"]["http_uri"]["uri"].startswith("oci://")
    # The bootstrap override (flusher + stats tags) merged into the same bootstrap.
    override = json.loads(configmaps(EXAMPLES / "istio/bootstrap-override.generated.yaml")
                          ["tollgate-istio-bootstrap"]["custom_bootstrap.json"])
    rendered = yaml.safe_load((ROOT / "envoy/tollgate-envoy.yaml").read_text())
    assert override["stats_config"] == rendered["stats_config"]
    envoy_validate(http_filter_bootstrap(config, override), tmp_path, "istio")


def test_envoy_gateway_policies_carry_what_the_filter_needs(tmp_path):
    epp = next(yaml.safe_load_all((EXAMPLES / "envoy-gateway/patch-policy.generated.yaml").read_text()))
    ops = [p["operation"] for p in epp["spec"]["jsonPatches"]]
    assert {"op": "add", "path": "/allow_on_headers_stop_iteration", "value": True}.items() <= ops[0].items()
    eep = next(yaml.safe_load_all((EXAMPLES / "envoy-gateway/extension-policy.generated.yaml").read_text()))
    wasm = eep["spec"]["wasm"][0]
    # What Envoy Gateway builds from the policy (internal/xds/translator/wasm.go) plus the
    # patched flag, with the EnvoyProxy's bootstrap merge: valid for the real Envoy.
    config = {"name": wasm["name"], "root_id": wasm["rootID"], "fail_open": wasm["failOpen"],
              "allow_on_headers_stop_iteration": True,
              "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                "value": json.dumps(wasm["config"])},
              "vm_config": {"vm_id": "envoyextensionpolicy/tollgate/tollgate/wasm/0",
                            "runtime": "envoy.wasm.runtime.v8", "code": {},
                            "environment_variables": {"host_env_keys": wasm["env"]["hostKeys"]}}}
    ep = next(yaml.safe_load_all((EXAMPLES / "envoy-gateway/envoy-proxy.generated.yaml").read_text()))
    merge = yaml.safe_load(ep["spec"]["bootstrap"]["value"])
    ledger = ops[1]["value"]
    boot = http_filter_bootstrap(config, merge)
    boot["static_resources"]["clusters"].append(ledger)
    envoy_validate(boot, tmp_path, "envoy-gateway")


# ---- the OCI image ------------------------------------------------------------------------

def test_oci_image_layout_has_the_wasm_and_consistent_digests(tmp_path):
    sys.path.insert(0, str(EXAMPLES / "oci"))
    import oci_layout

    out = tmp_path / "oci"
    subprocess.run([sys.executable, str(EXAMPLES / "oci/oci_layout.py"), str(WASM), str(out), "--tag", "9.9.9"],
                   check=True, capture_output=True)
    blob = lambda d: (out / "blobs/sha256" / d.split(":")[1]).read_bytes()  # noqa: E731
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731

    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((out / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "9.9.9"
    manifest_bytes = blob(entry["digest"])
    assert sha(manifest_bytes) == entry["digest"] and len(manifest_bytes) == entry["size"]
    manifest = json.loads(manifest_bytes)
    assert manifest["mediaType"] == entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    for desc in [manifest["config"], *manifest["layers"]]:
        data = blob(desc["digest"])
        assert sha(data) == desc["digest"] and len(data) == desc["size"]
    # One layer, the type both Istio's and Envoy Gateway's fetchers read as "compat".
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    tar_bytes = gzip.decompress(blob(layer["digest"]))
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        (member,) = tar.getmembers()
        assert member.name == "plugin.wasm"
        assert tar.extractfile(member).read() == WASM.read_bytes()
    config = json.loads(blob(manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [sha(tar_bytes)]
    # Reproducible: the same module gives the same digest, the one to pin.
    again = oci_layout.build(WASM.read_bytes(), "9.9.9")
    assert json.loads(again["index.json"])["manifests"][0]["digest"] == entry["digest"]
