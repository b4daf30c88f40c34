//! Config loads and reloads in the audit log: which configuration the ledger runs with,
//! as a digest (SHA-256 of the parsed configuration, so comments and layout do not
//! count as changes) and the names of the sections a reload changed. Never the file's
//! path, and never a value from it: consumer keys, webhook URLs and prices stay out.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_core::config::Config;

use crate::store::audit::NewAuditEntry;
use crate::store::Store;

/// Who the entries name as the actor.
pub const ACTOR: &str = "config file (ledger)";

/// Lowercase hex SHA-256 of the configuration as parsed.
pub fn digest(config: &Config) -> String {
    let text = serde_json::to_vec(config).unwrap_or_default();
    Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The top-level sections whose content differs between two configurations.
fn changed_sections(before: &Config, after: &Config) -> Vec<String> {
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .cloned()
        .collect()
}

/// The entry for putting `after` in force: `config.load` at start (`before` is
/// `None`), `config.reload` when the configuration changed; `None` for a reload that
/// changed nothing (a `SIGHUP` with the same file, an edited comment).
pub fn entry(before: Option<&Config>, after: &Config) -> Option<NewAuditEntry> {
    let after_digest = digest(after);
    let Some(before) = before else {
        return Some(NewAuditEntry {
            actor: ACTOR.into(),
            action: "config.load".into(),
            team: None,
            before: None,
            after: Some(json!({"sha256": after_digest})),
        });
    };
    let before_digest = digest(before);
    if before_digest == after_digest {
        return None;
    }
    Some(NewAuditEntry {
        actor: ACTOR.into(),
        action: "config.reload".into(),
        team: None,
        before: Some(json!({"sha256": before_digest})),
        after: Some(json!({
            "sha256": after_digest,
            "changed_sections": changed_sections(before, after),
        })),
    })
}

/// Records putting `after` in force. A failure is logged, not returned: the
/// configuration is in force either way.
pub fn record(store: &dyn Store, before: Option<&Config>, after: &Config, now_ms: i64) {
    let Some(entry) = entry(before, after) else {
        return;
    };
    if let Err(e) = store.record_audit(&entry, now_ms) {
        tracing::error!(error = %e, action = entry.action, "cannot record the config change in the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::ONE_TEAM_CONFIG as BASE;

    fn parse(text: &str) -> Config {
        crate::config_file::parse(text).unwrap().config
    }

    #[test]
    fn a_load_is_recorded_and_a_reload_only_when_something_changed() {
        let base = parse(BASE);
        let load = entry(None, &base).unwrap();
        assert_eq!(load.action, "config.load");
        assert_eq!(load.actor, ACTOR);
        assert_eq!(load.after, Some(json!({"sha256": digest(&base)})));
        assert_eq!(digest(&base).len(), 64);

        // A comment or a re-indented file is the same configuration.
        let same = parse(&format!("# edited\n{BASE}"));
        assert_eq!(entry(Some(&base), &same), None);

        let richer = parse(&BASE.replace("'5.00'", "'7.00'"));
        let reload = entry(Some(&base), &richer).unwrap();
        assert_eq!(reload.action, "config.reload");
        assert_eq!(reload.before, Some(json!({"sha256": digest(&base)})));
        assert_eq!(
            reload.after,
            Some(json!({"sha256": digest(&richer), "changed_sections": ["wallets"]}))
        );
        // Nothing from the file itself: no key, no amount, no path.
        let text = serde_json::to_string(&reload.after).unwrap();
        for secret in ["kt_cg_support_prod", "7.00", "yaml", "/"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
