//! Config loading on arbitrary text: YAML parse + validation + the derived filter
//! config never panic, whatever the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::config::Config;
use tollgate_core::config::filter_config::FilterConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = serde_yaml_ng::from_str::<Config>(text) {
        let _ = config.warnings();
        if config.validate().is_empty() {
            let _ = FilterConfig::from_config(&config, "127.0.0.1:8080");
        }
    }
    let _ = serde_json::from_str::<FilterConfig>(text);
});
