//! Compiles the built-in price catalogue (`catalogue/prices.yaml`) to JSON at build
//! time, so the filter reads it with the JSON parser it already has instead of carrying
//! a YAML parser in every Envoy worker's wasm VM. A catalogue that is not valid YAML
//! fails the build; its fields are checked by `pricing`'s tests.

use std::path::PathBuf;

fn main() {
    let source = "catalogue/prices.yaml";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let value: serde_json::Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::write(out.join("prices.json"), value.to_string())
        .unwrap_or_else(|e| panic!("writing prices.json: {e}"));
}
