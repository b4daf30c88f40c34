# The ledger image used by examples/k8s:
#   docker build -f examples/oci/ledger.Dockerfile -t YOUR-REGISTRY/tollgate-ledger:0.1.0 .
# A static (musl) binary: the same file runs in the ledger's container and, mounted
# into the Envoy pod as an image volume, as Envoy's preStop drain (`drain-envoy`),
# whatever libc the Envoy image has.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --target x86_64-unknown-linux-musl -p tollgate-ledger

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/tollgate-ledger /usr/local/bin/tollgate-ledger
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tollgate-ledger"]
CMD ["serve", "--listen=0.0.0.0:8080", "--data-dir=/var/lib/tollgate", "--log-format=json"]
