"""Cargo test runner for wasm32-wasip1: runs a test binary under wasmtime (from PyPI).

Used as CARGO_TARGET_WASM32_WASIP1_RUNNER so the core's unit tests also run compiled
to 32-bit wasm, the way the filter runs inside Envoy.
"""

import sys

import wasmtime


def main() -> int:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = sys.argv[1:]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.inherit_stdin()
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, sys.argv[1])
    instance = linker.instantiate(store, module)
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
