#!/usr/bin/env bash
# Builds the Tollgate filter and packs it as a Wasm OCI image (compat variant: one
# tar+gzip layer holding plugin.wasm), the format Istio's WasmPlugin / EnvoyFilter
# (oci://) and Envoy Gateway's EnvoyExtensionPolicy (code.type: Image) pull, and that
# Kubernetes mounts as an image volume. Needs only cargo and python3; no registry or
# container engine. Pushing is a separate, explicit step.
#
#   examples/oci/build.sh [TAG]                     -> out/oci (OCI image layout) + digest
#   examples/oci/build.sh 0.1.0 && \
#     oras cp --from-oci-layout out/oci:0.1.0 ghcr.io/YOUR-ORG/tollgate-filter:0.1.0
#   (or: skopeo copy oci:out/oci:0.1.0 docker://ghcr.io/YOUR-ORG/tollgate-filter:0.1.0)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG="${1:-0.1.0}"
OUT="${OUT:-out/oci}"
WASM=target/wasm32-wasip1/release/tollgate_filter.wasm
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
  cargo build --release -p tollgate-filter --target wasm32-wasip1
fi
rm -rf "$OUT"
python3 examples/oci/oci_layout.py "$WASM" "$OUT" --tag "$TAG"
