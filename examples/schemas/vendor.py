#!/usr/bin/env python3
"""Vendors the OpenAPI schemas of the custom resources used in examples/.

Kubernetes' own kinds are validated with the official JSON schemas that the
`kubernetes-validate` package ships. Istio, Envoy Gateway and Gateway API kinds are
CRDs whose schemas live only in their projects' repositories, which CI cannot reach:
this script extracts, from local copies of those repositories' CRD files, the
`openAPIV3Schema` of exactly the kinds and versions the examples use, drops the
`description` texts (they do not affect validation), and writes one JSON file each.
PROVENANCE.md records where every file came from.

    python3 examples/schemas/vendor.py ISTIO_CRDS EG_CRD_DIR GATEWAY_API_CRDS

ISTIO_CRDS        istio/istio manifests/charts/base/files/crd-all.gen.yaml
EG_CRD_DIR        envoyproxy/gateway charts/gateway-crds-helm/templates/generated/
GATEWAY_API_CRDS  envoyproxy/gateway charts/gateway-crds-helm/templates/standard-gatewayapi-crds.yaml
"""

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

# (source, group, kind, version)
WANTED = [
    ("istio", "extensions.istio.io", "WasmPlugin", "v1alpha1"),
    ("istio", "networking.istio.io", "EnvoyFilter", "v1alpha3"),
    ("istio", "networking.istio.io", "ServiceEntry", "v1"),
    ("istio", "networking.istio.io", "DestinationRule", "v1"),
    ("istio", "networking.istio.io", "VirtualService", "v1"),
    ("istio", "networking.istio.io", "Gateway", "v1"),
    ("eg", "gateway.envoyproxy.io", "EnvoyExtensionPolicy", "v1alpha1"),
    ("eg", "gateway.envoyproxy.io", "EnvoyPatchPolicy", "v1alpha1"),
    ("eg", "gateway.envoyproxy.io", "EnvoyProxy", "v1alpha1"),
    ("eg", "gateway.envoyproxy.io", "Backend", "v1alpha1"),
    ("eg", "gateway.envoyproxy.io", "HTTPRouteFilter", "v1alpha1"),
    ("gwapi", "gateway.networking.k8s.io", "GatewayClass", "v1"),
    ("gwapi", "gateway.networking.k8s.io", "Gateway", "v1"),
    ("gwapi", "gateway.networking.k8s.io", "HTTPRoute", "v1"),
]


def strip_descriptions(node):
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def load_crds(paths):
    crds = []
    for path in paths:
        text = Path(path).read_text()
        # Helm chart files wrap CRDs in {{- if }} … {{- end }} lines.
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("{{"))
        crds += [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "CustomResourceDefinition"]
    return crds


def main(istio, eg_dir, gwapi):
    sources = {
        "istio": load_crds([istio]),
        "eg": load_crds(sorted(Path(eg_dir).glob("gateway.envoyproxy.io_*.yaml"))),
        "gwapi": load_crds([gwapi]),
    }
    for source, group, kind, version in WANTED:
        crd = next(c for c in sources[source]
                   if c["spec"]["group"] == group and c["spec"]["names"]["kind"] == kind)
        ver = next(v for v in crd["spec"]["versions"] if v["name"] == version)
        schema = strip_descriptions(ver["schema"]["openAPIV3Schema"])
        out = HERE / f"{group}_{kind.lower()}_{version}.json"
        out.write_text(json.dumps({"group": group, "kind": kind, "version": version,
                                   "openAPIV3Schema": schema}, sort_keys=True, separators=(",", ":")) + "\n")
        print(f"{out.name}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:4])
