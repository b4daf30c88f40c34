//! Token counts estimated from text, for output the provider never reported (a stream
//! cut before its usage arrived).
//!
//! A BPE tokenizer would need the provider's vocabulary (o200k alone is several MB of
//! ranks) inside every Envoy worker's wasm VM, and Anthropic does not publish its
//! tokenizer at all, so the estimate is a documented characters-per-token ratio of the
//! text actually delivered to the client (never the SSE envelope around it):
//!
//! * each character weighs its UTF-8 length, except that characters of three or more
//!   bytes (CJK, kana, hangul, emoji) weigh 4: such a character is about one token;
//! * OpenAI models (o200k/cl100k): 4 weight units per token, the ratio OpenAI quotes for
//!   English text;
//! * Anthropic models: 3.5 units per token (Claude's tokenizer yields more tokens for
//!   the same English text).
//!
//! Hidden reasoning tokens are never delivered, so they cannot be estimated: a cut
//! reasoning stream is under-counted, and its event is flagged `estimated`.

use crate::config::schema::ProviderKind;

/// Text delivered to the client, measured in weight units (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveredText {
    units: u64,
}

impl DeliveredText {
    pub fn add(&mut self, text: &str) {
        let units: u64 = text
            .chars()
            .map(|c| match c.len_utf8() {
                n @ (1 | 2) => n as u64,
                _ => 4,
            })
            .sum();
        self.units = self.units.saturating_add(units);
    }

    pub fn is_empty(&self) -> bool {
        self.units == 0
    }

    /// Estimated tokens of the delivered text, rounded up, for a model of `provider`.
    pub fn estimated_tokens(&self, provider: ProviderKind) -> u64 {
        match provider {
            ProviderKind::Anthropic => (self.units.saturating_mul(2)).div_ceil(7),
            ProviderKind::Openai | ProviderKind::OpenaiCompatible => self.units.div_ceil(4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_text_is_about_four_characters_a_token_for_openai() {
        let mut d = DeliveredText::default();
        // 44 characters; o200k splits this sentence into 10 tokens.
        d.add("The quick brown fox jumps over the lazy dog.");
        assert_eq!(d.estimated_tokens(ProviderKind::Openai), 11);
        assert_eq!(d.estimated_tokens(ProviderKind::Openai), 11);
        // 44 × 2 / 7 = 12.57 → 13 for Claude.
        assert_eq!(d.estimated_tokens(ProviderKind::Anthropic), 13);
    }

    #[test]
    fn wide_characters_count_about_one_token_each() {
        let mut d = DeliveredText::default();
        d.add("你好世界");
        assert_eq!(d.estimated_tokens(ProviderKind::Openai), 4);
        let mut e = DeliveredText::default();
        e.add("héllo"); // é is two bytes: 6 units
        assert_eq!(e.estimated_tokens(ProviderKind::Openai), 2);
    }

    #[test]
    fn pieces_add_up_and_nothing_is_zero() {
        let mut d = DeliveredText::default();
        assert!(d.is_empty());
        assert_eq!(d.estimated_tokens(ProviderKind::Anthropic), 0);
        d.add("abcd");
        d.add("efgh");
        assert_eq!(d.estimated_tokens(ProviderKind::Openai), 2);
    }
}
