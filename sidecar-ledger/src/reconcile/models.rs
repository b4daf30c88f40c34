//! Model names as both sides are compared under. Providers report dated snapshots
//! (`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514`) where a request may have named
//! the alias and the event the snapshot, or the other way round; both sides are
//! compared under the name the price catalogue keys them by: lower case, without a
//! `provider/` prefix, a trailing date (`-YYYY-MM-DD`, `-YYYYMMDD`) or `-latest`
//! (`tollgate_core::pricing::base_model_name`, the rule that finds a snapshot's
//! price).

use tollgate_core::pricing::base_model_name;

/// The name `model` is reconciled under; empty stays empty (a line naming no model).
pub fn normalise(model: &str) -> String {
    let lower = model.trim().to_ascii_lowercase();
    let bare = lower
        .strip_prefix("openai/")
        .or_else(|| lower.strip_prefix("anthropic/"))
        .unwrap_or(&lower);
    base_model_name(bare).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_and_aliases_meet() {
        assert_eq!(normalise("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(normalise("gpt-4o"), "gpt-4o");
        assert_eq!(normalise("GPT-4o-mini-2024-07-18"), "gpt-4o-mini");
        assert_eq!(normalise("claude-sonnet-4-20250514"), "claude-sonnet-4");
        assert_eq!(normalise("claude-3-5-haiku-latest"), "claude-3-5-haiku");
        assert_eq!(normalise("openai/gpt-4.1"), "gpt-4.1");
        assert_eq!(normalise(""), "");
        // Different models stay apart.
        assert_ne!(normalise("gpt-4o-mini"), normalise("gpt-4o"));
    }
}
