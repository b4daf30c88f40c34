# The ledger image used by examples/k8s:
#   docker build -f examples/oci/ledger.Dockerfile -t YOUR-REGISTRY/tollgate-ledger:0.1.0 .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p tollgate-ledger

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tollgate-ledger /usr/local/bin/tollgate-ledger
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tollgate-ledger"]
CMD ["serve", "--listen=0.0.0.0:8080", "--data-dir=/var/lib/tollgate", "--log-format=json"]
