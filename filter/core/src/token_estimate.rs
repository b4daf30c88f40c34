//! Token counts estimated from text, for usage the provider never reported: output a
//! stream delivered before it was cut, and the prompt of a request answered without
//! any usage.
//!
//! A BPE tokenizer would need the provider's vocabulary (o200k alone is several MB of
//! ranks) inside every Envoy worker's wasm VM, and Anthropic does not publish its
//! tokenizer at all, so the estimate is a documented characters-per-token ratio of the
//! text itself (the text actually delivered to the client, never the SSE envelope
//! around it; the prompt's strings, never the JSON around them):
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

use serde_json::{Map, Value};

use crate::config::schema::ProviderKind;

/// Text delivered to the client, measured in weight units (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveredText {
    units: u64,
}

impl DeliveredText {
    pub fn add(&mut self, text: &str) {
        // Weighed by byte, without decoding characters: a character's lead byte tells
        // its length, and its continuation bytes weigh nothing.
        let units: u64 = text
            .as_bytes()
            .chunks(4096)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&b| match b {
                        0x00..=0x7f => 1u32,
                        0x80..=0xbf => 0,
                        0xc0..=0xdf => 2,
                        _ => 4,
                    })
                    .sum::<u32>() as u64
            })
            .sum();
        self.units = self.units.saturating_add(units);
    }

    /// Adds a JSON string's text given as its escaped body (the bytes between the
    /// quotes), without unescaping it into a copy. An invalid escape adds nothing, as
    /// serde would not have read the string.
    pub fn add_json_escaped(&mut self, raw: &[u8]) {
        let mut units = 0u64;
        let valid = crate::json_scan::unescaped_char_lens(raw, |len| {
            units += match len {
                1 | 2 => len as u64,
                _ => 4,
            }
        });
        if valid.is_some() {
            self.units = self.units.saturating_add(units);
        }
    }

    /// Adds the text `other` measured.
    pub fn add_units_of(&mut self, other: &DeliveredText) {
        self.units = self.units.saturating_add(other.units);
    }

    pub fn is_empty(&self) -> bool {
        self.units == 0
    }

    /// Estimated tokens of the delivered text, rounded up, for a model of `provider`.
    pub fn estimated_tokens(&self, provider: ProviderKind) -> u64 {
        match provider {
            ProviderKind::Anthropic => (self.units.saturating_mul(2)).div_ceil(7),
            // Google documents about four characters a token for Gemini models too;
            // Bedrock serves several families: the common four-characters rule.
            ProviderKind::Openai
            | ProviderKind::OpenaiCompatible
            | ProviderKind::AzureOpenai
            | ProviderKind::Gemini
            | ProviderKind::VertexAi
            | ProviderKind::Bedrock => self.units.div_ceil(4),
        }
    }
}

/// Tokens the chat formats add per message (role and separator markers), the figure
/// OpenAI documents for its chat models.
const TOKENS_PER_MESSAGE: u64 = 3;

/// Request fields whose strings the model reads as prompt text.
const PROMPT_FIELDS: &[&str] = &[
    "messages",
    "system",
    "input",
    "instructions",
    "prompt",
    "tools",
    "functions",
];

/// Keys under which a request carries binary data (images, audio, files) as text: not
/// prompt text, and priced by providers by size or tile, not by characters.
const BINARY_KEYS: &[&str] = &[
    "image_url",
    "source",
    "file_data",
    "input_audio",
    "data",
    "image",
];

/// The prompt of a request as text: what its usage is estimated from when the provider
/// reports none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromptText {
    text: DeliveredText,
    messages: u64,
}

impl PromptText {
    /// Every string of the request's messages, system prompt, instructions and tool
    /// definitions (never JSON keys or punctuation, never inline binary data), and the
    /// number of messages.
    pub fn of(body: &Map<String, Value>) -> PromptText {
        let mut p = PromptText::default();
        for field in PROMPT_FIELDS {
            if let Some(v) = body.get(*field) {
                add_strings(v, &mut p.text);
            }
        }
        p.messages = ["messages", "input"]
            .iter()
            .filter_map(|f| body.get(*f).and_then(Value::as_array))
            .map(|a| a.len() as u64)
            .sum::<u64>()
            + u64::from(body.get("system").is_some() || body.get("instructions").is_some());
        p
    }

    /// Estimated prompt tokens for a model of `provider`.
    pub fn estimated_tokens(&self, provider: ProviderKind) -> u64 {
        self.text
            .estimated_tokens(provider)
            .saturating_add(self.messages.saturating_mul(TOKENS_PER_MESSAGE))
    }
}

fn add_strings(v: &Value, text: &mut DeliveredText) {
    match v {
        Value::String(s) if !s.starts_with("data:") => text.add(s),
        Value::Array(items) => items.iter().for_each(|i| add_strings(i, text)),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !BINARY_KEYS.contains(&k.as_str()))
            .for_each(|(_, v)| add_strings(v, text)),
        _ => {}
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
    fn weighing_by_byte_is_weighing_by_character() {
        for text in [
            "",
            "ascii only",
            "héllo wörld",
            "你好 world",
            "😀 emoji",
            "ß\u{7ff}\u{800}\u{ffff}\u{10000}",
        ] {
            let by_char: u64 = text
                .chars()
                .map(|c| match c.len_utf8() {
                    n @ (1 | 2) => n as u64,
                    _ => 4,
                })
                .sum();
            let mut d = DeliveredText::default();
            d.add(text);
            assert_eq!(d.units, by_char, "{text}");
            // And the same text given escaped, as streamed JSON carries it.
            let json = serde_json::to_string(text).unwrap();
            let mut e = DeliveredText::default();
            e.add_json_escaped(&json.as_bytes()[1..json.len() - 1]);
            assert_eq!(e, d, "{json}");
        }
    }

    fn prompt(json: serde_json::Value) -> PromptText {
        PromptText::of(json.as_object().unwrap())
    }

    #[test]
    fn a_prompt_is_its_message_text_plus_the_chat_formats_markers() {
        // 44 characters of text in one message: 11 text tokens + 3 markers.
        let chat = prompt(
            serde_json::json!({"model": "gpt-4o-mini", "temperature": 0.2,
            "messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog."}]}),
        );
        // The role's text counts too ("user": 4 units → 45+ units overall).
        assert_eq!(chat.estimated_tokens(ProviderKind::Openai), 12 + 3);
        // Content parts, a system prompt and tool definitions count; an inline image
        // does not, whatever its size.
        let image = format!("data:image/png;base64,{}", "A".repeat(40_000));
        let rich = prompt(
            serde_json::json!({"model": "claude-haiku-4-5", "max_tokens": 100,
            "system": [{"type": "text", "text": "abcdefgh"}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "abcd"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A".repeat(40_000)}},
                {"type": "image_url", "image_url": {"url": image}}]}],
            "tools": [{"name": "lookup", "description": "abcd", "input_schema": {"type": "object"}}]}),
        );
        // Strings: "text" 4, "abcdefgh" 8, "user" 4, "text" 4, "abcd" 4, "image" 5,
        // "image_url" 9, "lookup" 6, "abcd" 4, "object" 6 = 54 units; 2 messages (the
        // system prompt and one message) × 3.
        assert_eq!(rich.estimated_tokens(ProviderKind::Openai), 14 + 6);
        let responses = prompt(serde_json::json!({"model": "gpt-5", "input": "abcdefgh",
            "instructions": "abcd"}));
        assert_eq!(responses.estimated_tokens(ProviderKind::Openai), 3 + 3);
        assert_eq!(
            prompt(serde_json::json!({"model": "m"})).estimated_tokens(ProviderKind::Openai),
            0
        );
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
