# Envoy with the Tollgate filter baked in, for clusters without image volumes:
#   docker build -f examples/oci/envoy.Dockerfile -t YOUR-REGISTRY/tollgate-envoy:0.1.0 .
# (after `cargo build --release -p tollgate-filter --target wasm32-wasip1`), then use that
# image in examples/k8s/envoy.yaml and remove the `wasm` volume.
FROM envoyproxy/envoy:v1.40.0
COPY target/wasm32-wasip1/release/tollgate_filter.wasm /etc/tollgate/wasm/plugin.wasm
