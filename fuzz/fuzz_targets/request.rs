//! Request parsing, rewriting and cache keys on arbitrary bodies: errors are values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::cache::{cache_key, canonical_json};
use tollgate_core::event::ApiKind;
use tollgate_core::request::ParsedRequest;

fuzz_target!(|data: &[u8]| {
    for api in [
        ApiKind::ChatCompletions,
        ApiKind::Responses,
        ApiKind::Messages,
        ApiKind::Embeddings,
        ApiKind::Completions,
        ApiKind::CountTokens,
        ApiKind::Passthrough,
    ] {
        if let Ok(parsed) = ParsedRequest::parse(api, data) {
            let out = parsed.upstream_body("m");
            serde_json::from_slice::<serde_json::Value>(&out).expect("rewritten body is JSON");
            // The object is built lazily; the quick pass and the full parse must agree
            // on what is JSON, apart from the values only the full parse checks.
            if let Ok(body) = parsed.tree() {
                let _ = cache_key(api, "m", Some("g"), body);
                let canon = canonical_json(&serde_json::Value::Object(body.clone()));
                serde_json::from_str::<serde_json::Value>(&canon).expect("canonical form is JSON");
            }
        }
    }
});
